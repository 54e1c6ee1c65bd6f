/**
 * Alpaca: `{"instruction": "...", "input": "...", "output": "..."}`; the user turn is the
 * instruction and the input joined by a newline (just the instruction when input is absent or
 * blank). An optional `system` field becomes the system message.
 */
import { z } from 'zod';

import type { Conversation, Message } from '../conversation';
import { optionalText, text } from './fields';
import type { RecordFormat } from './format';
import { parseRecord } from './problem';

const schema = z.object({
  system: optionalText,
  instruction: text,
  input: optionalText,
  output: text,
});

export const alpacaFormat: RecordFormat = {
  name: 'alpaca',
  markers: ['instruction', 'output'],
  jsonFields: [],
  toConversation(record): Conversation {
    const r = parseRecord(schema, record);
    const messages: Message[] = [];
    if (r.system !== undefined) messages.push({ role: 'system', content: r.system });
    messages.push({ role: 'user', content: r.input === undefined ? r.instruction : `${r.instruction}\n${r.input}` });
    messages.push({ role: 'assistant', content: r.output });
    return { messages };
  },
};
