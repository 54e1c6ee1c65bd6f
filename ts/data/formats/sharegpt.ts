/**
 * ShareGPT: `{"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...]}`, with an
 * optional top-level `system` field used when the conversation has no system turn of its own.
 */
import { z } from 'zod';

import type { Conversation, Message, Role } from '../conversation';
import { optionalText, text } from './fields';
import type { RecordFormat } from './format';
import { parseRecord, RecordProblem } from './problem';
import { checkTurns } from './turns';

const ROLE_OF = { system: 'system', human: 'user', gpt: 'assistant' } as const satisfies Record<string, Role>;
const SPELLING: Record<Role, string> = { system: 'system', user: 'human', assistant: 'gpt' };

const schema = z.object({
  system: optionalText,
  conversations: z.array(z.object({ from: z.enum(['system', 'human', 'gpt']), value: text })).min(1),
});

export const sharegptFormat: RecordFormat = {
  name: 'sharegpt',
  markers: ['conversations'],
  jsonFields: ['conversations'],
  toConversation(record): Conversation {
    const r = parseRecord(schema, record);
    const messages: Message[] = r.conversations.map((t) => ({ role: ROLE_OF[t.from], content: t.value }));
    checkTurns(messages, (i) => `conversations[${i}].from`, (role) => SPELLING[role]);
    if (r.system !== undefined) {
      if (messages[0].role === 'system') {
        throw new RecordProblem('system', 'is given twice: as a field and as the first turn of "conversations"');
      }
      messages.unshift({ role: 'system', content: r.system });
    }
    return { messages };
  },
};
