/** One way a dataset record can be written (ms-swift's formats); each lives in its own file. */
import type { Conversation } from '../conversation';

export interface RecordFormat {
  /** Short name used in messages and docs. */
  readonly name: string;
  /** Top-level fields whose presence marks a record as this format (any one suffices). */
  readonly markers: readonly string[];
  /** Fields that hold JSON (arrays) and so are parsed from text when the record comes from a CSV cell. */
  readonly jsonFields: readonly string[];
  /** Converts and validates a record of this format; throws RecordProblem. */
  toConversation(record: Record<string, unknown>): Conversation;
}
