/**
 * The shape every conversation must have: an optional system message first, then user and
 * assistant turns alternating, starting with the user and ending with the assistant (whose last
 * message is the answer used for training loss and evaluation).
 */
import type { Message, Role } from '../conversation';
import { RecordProblem } from './problem';

/**
 * Checks the order of roles. `fieldOf(i)` names message i's role field in the record's own terms
 * (`messages[2].role`, `conversations[2].from`); `spell` spells a role the way the format does.
 */
export function checkTurns(messages: readonly Message[], fieldOf: (i: number) => string, spell: (r: Role) => string = (r) => r): void {
  let expect: Role = 'user';
  messages.forEach((m, i) => {
    if (m.role === 'system') {
      if (i !== 0) throw new RecordProblem(fieldOf(i), `is ${JSON.stringify(spell('system'))}, but a system message may only come first`);
      return;
    }
    if (m.role !== expect) {
      throw new RecordProblem(
        fieldOf(i),
        `must be ${JSON.stringify(spell(expect))} (got ${JSON.stringify(spell(m.role))}): turns alternate ${spell('user')}, ${spell('assistant')}, starting with ${spell('user')}`,
      );
    }
    expect = expect === 'user' ? 'assistant' : 'user';
  });
  const last = messages.length - 1;
  if (last < 0 || messages[last].role !== 'assistant') {
    throw new RecordProblem(
      fieldOf(Math.max(last, 0)),
      `must be ${JSON.stringify(spell('assistant'))}: a conversation must end with the ${spell('assistant')}'s answer`,
    );
  }
}
