/** Splits a conversation into what the model is shown and the answer it is scored against. */
import { DatasetError } from '../errors';
import type { Conversation, Message } from './conversation';

export interface EvalExample {
  /** Every message before the last one (system, earlier turns, the final user message). */
  prompt: Message[];
  /** The last message's content: the assistant's reference answer. */
  reference: string;
}

export function splitForEval(conversation: Conversation): EvalExample {
  const messages = conversation.messages;
  const last = messages.at(-1);
  if (last === undefined || last.role !== 'assistant') {
    throw new DatasetError(`a conversation must end with an assistant message to be evaluated (it ends with ${last ? `a ${last.role} message` : 'nothing'})`, {
      field: 'messages',
    });
  }
  if (!messages.slice(0, -1).some((m) => m.role === 'user')) {
    throw new DatasetError('a conversation must have a user message before the answer to be evaluated', { field: 'messages' });
  }
  return { prompt: messages.slice(0, -1).map((m) => ({ ...m })), reference: last.content };
}
