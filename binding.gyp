# A thin bridge for tools that call node-gyp directly (`node-gyp rebuild`): the real build is
# CMake (CMakeLists.txt) driven by cmake-js through scripts/install.js, which picks a matching
# prebuild or builds from source against pip's libtorch. npm itself runs the package's install
# script, which does the same.
{
  "targets": [
    {
      "target_name": "continual_next",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_js_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["build/Release/continual_next.node"],
          "action": ["node", "scripts/install.js"]
        }
      ]
    }
  ]
}
