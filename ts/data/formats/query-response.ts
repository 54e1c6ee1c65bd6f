/** `{"system": "...", "query": "...", "response": "...", "history": [["q", "a"], ...]}` (system and history optional). */
import { z } from 'zod';

import type { Conversation, Message } from '../conversation';
import { optionalText, text } from './fields';
import type { RecordFormat } from './format';
import { parseRecord } from './problem';

const schema = z.object({
  system: optionalText,
  history: z.array(z.tuple([text, text])).nullish(),
  query: text,
  response: text,
});

export const queryResponseFormat: RecordFormat = {
  name: 'query-response',
  markers: ['query', 'response'],
  jsonFields: ['history'],
  toConversation(record): Conversation {
    const r = parseRecord(schema, record);
    const messages: Message[] = [];
    if (r.system !== undefined) messages.push({ role: 'system', content: r.system });
    for (const [q, a] of r.history ?? []) messages.push({ role: 'user', content: q }, { role: 'assistant', content: a });
    messages.push({ role: 'user', content: r.query }, { role: 'assistant', content: r.response });
    return { messages };
  },
};
