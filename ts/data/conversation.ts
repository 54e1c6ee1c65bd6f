/** A conversation: the unit every dataset record becomes (ms-swift's "messages" form). */
export type Role = 'system' | 'user' | 'assistant';

export interface Message {
  role: Role;
  content: string;
}

export interface Conversation {
  messages: Message[];
}
