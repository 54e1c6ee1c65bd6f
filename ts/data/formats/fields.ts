/** Zod pieces shared by the record formats. */
import { z } from 'zod';

/** Message text: a string with something other than white space in it. */
export const text = z.string().refine((s) => s.trim().length > 0, { message: 'must not be empty' });

/** An optional text field: absent, null, or blank all mean "none". */
export const optionalText = z
  .string()
  .nullish()
  .transform((s) => (s === null || s === undefined || s.trim() === '' ? undefined : s));
