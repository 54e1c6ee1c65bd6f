/** `{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}` */
import { z } from 'zod';

import type { Conversation } from '../conversation';
import { text } from './fields';
import type { RecordFormat } from './format';
import { parseRecord } from './problem';
import { checkTurns } from './turns';

const schema = z.object({
  messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: text })).min(1),
});

export const messagesFormat: RecordFormat = {
  name: 'messages',
  markers: ['messages'],
  jsonFields: ['messages'],
  toConversation(record): Conversation {
    const parsed = parseRecord(schema, record);
    const messages = parsed.messages.map((m) => ({ role: m.role, content: m.content }));
    checkTurns(messages, (i) => `messages[${i}].role`);
    return { messages };
  },
};
