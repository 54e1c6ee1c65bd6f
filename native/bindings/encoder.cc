// JS class Encoder: a loaded BERT-style sentence encoder (encoders/bert.h) and its pooling.
// encode() pads a batch of token id lists, runs the encoder and pools on a worker thread, and
// settles a Promise with the sentence embeddings.
#include <mutex>

#include "bindings/js_convert.h"
#include "core/async.h"
#include "core/dtype.h"
#include "core/env_data.h"
#include "core/errors.h"
#include "core/exports.h"
#include "core/options.h"
#include "core/tensor.h"
#include "encoders/bert.h"
#include "encoders/pooling.h"
#include "models/weights.h"

namespace cn {
namespace {

struct EncoderState {
  std::unique_ptr<BertEncoder> encoder;
  std::string source;
  std::mutex mu;
};

struct Embeddings {
  at::Tensor values;  // [B, D] fp32 CPU
};

class Encoder : public Napi::ObjectWrap<Encoder> {
 public:
  static void init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "Encoder",
                                      {StaticMethod<&Encoder::fromTensors>("fromTensors"),
                                       InstanceMethod<&Encoder::encode>("encode"),
                                       InstanceMethod<&Encoder::dispose>("dispose"),
                                       InstanceAccessor<&Encoder::disposed>("disposed")});
    envData(env).constructors["Encoder"] = Napi::Persistent(ctor);
    exports.Set("Encoder", ctor);
  }

  explicit Encoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Encoder>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(info.Env(), "Encoder cannot be constructed directly; use SentenceEncoder.load");
    }
    state_ = *info[0].As<Napi::External<std::shared_ptr<EncoderState>>>().Data();
  }

 private:
  std::shared_ptr<EncoderState> state_;

  std::shared_ptr<EncoderState> alive() const {
    if (!state_) fail(code::kDisposed, "Encoder was used after dispose()");
    return state_;
  }

  // Encoder.fromTensors(spec, tensors, {source}) → Promise<Encoder>
  static Napi::Value fromTensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      EncoderSpec spec = encoderSpecFromOptions(Options::fromJs(info[0], "spec"));
      auto tensors = toTensorMap(info[1], "tensors");
      Options opts = Options::fromJs(info[2], "options");
      const std::string source = opts.string("source", "(tensors)");
      const at::Device device = parseDevice(opts.string("device", "cpu"));
      const at::ScalarType dtype = parseDtype(opts.string("dtype", "float32"));
      return runAsync<std::shared_ptr<EncoderState>>(
          env,
          [spec, tensors = std::move(tensors), source, device, dtype]() mutable {
            at::NoGradGuard noGrad;
            WeightStore store(BertEncoder::stripModelPrefix(std::move(tensors)), source, dtype, device);
            auto state = std::make_shared<EncoderState>();
            state->encoder = BertEncoder::fromWeights(spec, store);
            state->source = source;
            return state;
          },
          [](Napi::Env env, std::shared_ptr<EncoderState>& state) -> Napi::Value {
            auto ext = Napi::External<std::shared_ptr<EncoderState>>::New(env, &state);
            return envData(env).constructors.at("Encoder").New({ext});
          });
    });
  }

  // encode(ids: number[][], {pooling: string[], normalize: boolean}) → Promise<{data, rows, dim}>
  // Rows are right-padded to the longest; every id must be in the vocabulary and every row fit
  // the position table (the caller truncates).
  Napi::Value encode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto s = alive();
      const EncoderSpec& spec = s->encoder->spec;
      if (!info[0].IsArray()) fail(code::kInvalidArgument, "ids must be an array of token id arrays", {{"field", "ids"}});
      Napi::Array arr = info[0].As<Napi::Array>();
      std::vector<std::vector<int64_t>> rows;
      size_t longest = 0;
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        const std::string what = "ids[" + std::to_string(i) + "]";
        rows.push_back(toInt64s(arr.Get(i), what));
        const auto& r = rows.back();
        if (r.empty()) fail(code::kInvalidArgument, what + " is empty", {{"field", what}});
        if (static_cast<int64_t>(r.size()) > spec.maxSequence()) {
          fail(code::kInvalidArgument, what + " has " + std::to_string(r.size()) + " tokens; the model numbers at most " +
                                           std::to_string(spec.maxSequence()), {{"field", what}});
        }
        for (int64_t id : r) {
          if (id < 0 || id >= spec.vocabSize) {
            fail(code::kInvalidArgument, what + " holds token id " + std::to_string(id) + ", outside the vocabulary of " +
                                             std::to_string(spec.vocabSize), {{"field", what}});
          }
        }
        longest = std::max(longest, r.size());
      }
      Options opts = Options::fromJs(info[1], "options");
      std::vector<std::string> pooling = opts.has("pooling") ? opts.strings("pooling") : std::vector<std::string>{"mean"};
      checkPoolingModes(pooling);
      const bool normalize = opts.flag("normalize", false);
      return runAsync<Embeddings>(
          env,
          [s, rows = std::move(rows), longest, pooling, normalize]() {
            std::lock_guard<std::mutex> lock(s->mu);
            at::InferenceMode inference;
            const int64_t batch = static_cast<int64_t>(rows.size()), seq = static_cast<int64_t>(longest);
            const int64_t dim = s->encoder->spec.hiddenSize * static_cast<int64_t>(pooling.size());
            if (batch == 0) return Embeddings{at::zeros({0, dim}, at::kFloat)};
            at::Tensor ids = at::full({batch, seq}, s->encoder->spec.padTokenId, at::kLong);
            at::Tensor valid = at::zeros({batch, seq}, at::kBool);
            auto idsA = ids.accessor<int64_t, 2>();
            auto validA = valid.accessor<bool, 2>();
            for (int64_t b = 0; b < batch; ++b) {
              for (size_t t = 0; t < rows[b].size(); ++t) {
                idsA[b][t] = rows[b][t];
                validA[b][t] = true;
              }
            }
            const at::Device device = s->encoder->wordEmbeddings.device();
            ids = ids.to(device);
            valid = valid.to(device);
            at::Tensor pooled = poolSentences(s->encoder->forward(ids, valid), valid, pooling);
            if (normalize) pooled = l2Normalize(pooled);
            return Embeddings{pooled.to(at::kFloat).cpu().contiguous()};
          },
          [](Napi::Env env, Embeddings& e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(env);
            o.Set("data", tensorToTypedArray(env, e.values));
            o.Set("rows", static_cast<double>(e.values.size(0)));
            o.Set("dim", static_cast<double>(e.values.size(1)));
            return o;
          },
          {Value()});
    });
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    state_.reset();  // in-flight work keeps its own reference
    return info.Env().Undefined();
  }

  Napi::Value disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !state_); }
};

}  // namespace

void initEncoder(Napi::Env env, Napi::Object exports) { Encoder::init(env, exports); }

}  // namespace cn
