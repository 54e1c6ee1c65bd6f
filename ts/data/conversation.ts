/** A conversation: the unit every dataset record becomes (ms-swift's "messages" form). */
export type Role = 'system' | 'user' | 'assistant';

export interface Message {
  role: Role;
  content: string;
}

export interface Conversation {
  messages: Message[];
  /**
   * The record's other top-level scalar fields (e.g. a Continual-News question's
   * `"kind": "updated"`), kept as tags: evaluation copies them onto each sample's result.
   */
  tags?: Record<string, string | number | boolean>;
}
