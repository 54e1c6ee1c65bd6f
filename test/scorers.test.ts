/** Text scorers on hand-worked cases (English, Chinese, mixed), normalisation, tokenisation, registry. */
import { expect } from 'chai';

import {
  type BatchScorer,
  ConfigError,
  containsScorer,
  exactMatchScorer,
  getScorer,
  InvalidArgumentError,
  lcsLength,
  normalizeAnswer,
  registerScorer,
  rougeLScorer,
  scoreAll,
  scorerNames,
  tokenF1Scorer,
  tokenizeForScoring,
} from '../ts/index';

const close = (x: number, y: number) => expect(x).to.be.closeTo(y, 1e-12);

describe('scorers: normalizeAnswer', () => {
  it('lower case, no punctuation, no articles, single spaces', () => {
    // "the cat, sat!" → "the cat sat" → " cat sat" → "cat sat"
    expect(normalizeAnswer('The Cat, sat!')).to.equal('cat sat');
    expect(normalizeAnswer('  An   apple\tA day ')).to.equal('apple day');
    expect(normalizeAnswer("don't $5 <x>")).to.equal('dont 5 x');
    expect(normalizeAnswer('theory another')).to.equal('theory another'); // only whole words
    expect(normalizeAnswer('Vitamin A')).to.equal('vitamin'); // as SQuAD does
  });

  it('CJK and full-width punctuation; full-width letters and digits become ASCII (NFKC)', () => {
    expect(normalizeAnswer('你好，世界！')).to.equal('你好世界');
    expect(normalizeAnswer('「北京」。《书名》【注】、…')).to.equal('北京书名注');
    expect(normalizeAnswer('Ｈｅｌｌｏ　２０２３？')).to.equal('hello 2023'); // U+3000 is white space
    expect(normalizeAnswer('好👍')).to.equal('好👍'); // emoji are not punctuation
  });
});

describe('scorers: tokenizeForScoring', () => {
  it('white-space words; each Han/kana character its own token', () => {
    expect(tokenizeForScoring('hello世界 ok')).to.deep.equal(['hello', '世', '界', 'ok']);
    expect(tokenizeForScoring('GPT-4很强')).to.deep.equal(['GPT-4', '很', '强']);
    expect(tokenizeForScoring('日本語のテキスト')).to.deep.equal(['日', '本', '語', 'の', 'テ', 'キ', 'ス', 'ト']);
    expect(tokenizeForScoring('한국어 텍스트')).to.deep.equal(['한국어', '텍스트']); // Hangul is space-delimited
    expect(tokenizeForScoring('𠀀a')).to.deep.equal(['𠀀', 'a']); // a Han character outside the BMP
    expect(tokenizeForScoring('  ')).to.deep.equal([]);
  });
});

describe('scorers: exact-match and contains', () => {
  it('exact-match compares normalised text', () => {
    const em = (p: string, r: string) => exactMatchScorer.score(p, r);
    expect(em('The answer!', 'answer')).to.equal(1);
    expect(em('Paris', 'paris.')).to.equal(1);
    expect(em('北京。', '北京')).to.equal(1);
    expect(em('Paris', 'London')).to.equal(0);
    expect(em('Paris France', 'Paris')).to.equal(0);
  });

  it('contains looks for the reference tokens as a contiguous run', () => {
    const c = (p: string, r: string) => containsScorer.score(p, r);
    expect(c('I think the answer is Paris, France.', 'paris')).to.equal(1);
    expect(c('I think the answer is Paris, France.', 'Paris France')).to.equal(1);
    expect(c('France, Paris', 'Paris France')).to.equal(0);
    expect(c('concatenate', 'cat')).to.equal(0); // whole tokens only
    expect(c('答案是北京市。', '北京')).to.equal(1);
    expect(c('答案是北京市。', '京北')).to.equal(0);
    expect(c('x', '!!!')).to.equal(0); // reference empty after normalisation: only an empty answer matches
    expect(c('', '!!!')).to.equal(1);
  });
});

describe('scorers: token-f1', () => {
  const f1 = (p: string, r: string) => tokenF1Scorer.score(p, r);
  it('English', () => {
    // pred → [cat, sat, on, mat] (4); ref → [cat, on, mat] (3); overlap 3
    // P = 3/4, R = 3/3 = 1, F1 = 2·0.75·1 / 1.75 = 6/7
    close(f1('the cat sat on the mat', 'a cat on a mat'), 6 / 7);
    // counts are a multiset: pred [x, x, y], ref [x, y, y] → overlap x·1 + y·1 = 2; P = R = 2/3
    close(f1('x x y', 'x y y'), 2 / 3);
    expect(f1('dog', 'cat')).to.equal(0);
  });

  it('Chinese: one token per character', () => {
    // [我, 喜, 欢, 猫] vs [我, 喜, 欢, 狗]: overlap 3; P = R = 3/4 → F1 = 0.75
    close(f1('我喜欢猫', '我喜欢狗'), 0.75);
  });

  it('mixed Chinese and English', () => {
    // pred "用Python写代码" → [用, python, 写, 代, 码] (5)
    // ref "用 Python 编写代码。" → [用, python, 编, 写, 代, 码] (6); overlap 5
    // P = 5/5 = 1, R = 5/6, F1 = 2·(5/6) / (11/6) = 10/11
    close(f1('用Python写代码', '用 Python 编写代码。'), 10 / 11);
  });

  it('empty sides', () => {
    expect(f1('', '...')).to.equal(1); // both empty after normalisation
    expect(f1('', 'x')).to.equal(0);
    expect(f1('x', 'the')).to.equal(0);
  });
});

describe('scorers: rouge-l', () => {
  const rl = (p: string, r: string) => rougeLScorer.score(p, r);
  it('longest common subsequence', () => {
    expect(lcsLength([...'ABCBDAB'], [...'BDCABA'])).to.equal(4); // e.g. BCBA
    expect(lcsLength([], ['a'])).to.equal(0);
  });

  it('English: order matters (token-f1 of the same pair is 1)', () => {
    // [cat, sat, on, mat] vs [on, mat, cat, sat]: LCS = 2 ("cat sat" or "on mat"); P = R = 2/4 → F = 0.5
    close(rl('the cat sat on the mat', 'on the mat a cat sat'), 0.5);
    close(tokenF1Scorer.score('the cat sat on the mat', 'on the mat a cat sat'), 1);
  });

  it('Chinese', () => {
    // [今, 天, 天, 气, 很, 好] vs [今, 天, 的, 天, 气, 好]: LCS = 今天天气好 = 5; P = R = 5/6 → F = 5/6
    close(rl('今天天气很好', '今天的天气好'), 5 / 6);
  });

  it('mixed', () => {
    // [i, love, 北, 京, very, much] (6) vs [i, love, 北, 京] (4): LCS 4; P = 4/6, R = 1
    // F = 2·(2/3)·1 / (5/3) = 0.8
    close(rl('I love 北京 very much', 'I love 北京'), 0.8);
    expect(rl('', '')).to.equal(1);
    expect(rl('a b', 'c d')).to.equal(0);
  });
});

describe('scorers: registry and scoreAll', () => {
  it('getScorer by name; unknown names list the known ones', () => {
    expect(scorerNames()).to.include.members(['contains', 'exact-match', 'rouge-l', 'token-f1']);
    expect(getScorer('rouge-l')).to.equal(rougeLScorer);
    try {
      getScorer('bleu');
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as Error).message).to.match(/^unknown scorer "bleu"; known scorers: .*contains, (embedding-cosine, )?exact-match, rouge-l, token-f1/);
    }
  });

  it('scoreAll uses score, or scoreBatch when a scorer has it', async () => {
    expect(await scoreAll(getScorer('exact-match'), ['Paris', 'Rome'], ['paris', 'Oslo'])).to.deep.equal([1, 0]);
    const batch: BatchScorer = {
      name: 'test-length-ratio',
      scoreBatch: async (preds, refs) => preds.map((p, i) => Math.min(p.length, refs[i].length) / Math.max(p.length, refs[i].length, 1)),
    };
    registerScorer('test-length-ratio', () => batch);
    expect(await scoreAll(getScorer('test-length-ratio'), ['ab', 'abcd'], ['abcd', 'abcd'])).to.deep.equal([0.5, 1]);
    expect(() => registerScorer('test-length-ratio', () => batch)).to.throw(InvalidArgumentError);
  });

  it('scoreAll checks lengths and ranges', async () => {
    let err: unknown;
    await scoreAll(exactMatchScorer, ['a'], []).catch((e) => (err = e));
    expect(err).to.be.instanceOf(InvalidArgumentError);
    err = undefined;
    await scoreAll({ name: 'broken', score: () => 1.5 }, ['a'], ['a']).catch((e) => (err = e));
    expect(err).to.be.instanceOf(InvalidArgumentError);
    expect((err as Error).message).to.match(/outside \[0, 1\]/);
  });
});
