// The tensor table's column widths, fitted to the file: the Shape column as wide as its longest
// shape (so a 4-D conv kernel is never cut to "[16, 8, 3, …"), DType only when the file mixes
// types (one type is already in the header), Flags only once a tensor has one. The table's
// natural width is the sum, so the split can give the detail pane everything else.

/** Approximate advance of one character of the editor's font at 13 px (digits are tabular). */
const CHAR_PX = { mono: 7.9, text: 7.4 };
const PAD = 12;

export interface ColumnFit {
  /** grid-template-columns for every row. */
  template: string;
  /** The table's natural width in px (the Name column at its minimum). */
  width: number;
  dtype: boolean;
  flags: boolean;
}

export const NAME_MIN = 160;

/** Widths in the order of the table's columns: name, shape, dtype, #params, size, mean, std, min, max, zeros, flags. */
export function fitColumns(shapeChars: number, dtypes: ReadonlySet<string>, anyFlags: boolean, flagChars = 6): ColumnFit {
  const longestShape = Math.max(5, shapeChars);
  const longestType = Math.max(5, ...[...dtypes].map((t) => t.length));
  const dtype = dtypes.size > 1;
  const widths = [
    Math.ceil(Math.min(longestShape, 28) * CHAR_PX.mono + PAD),
    dtype ? Math.ceil(longestType * CHAR_PX.mono + PAD) : 0,
    76, // #Params: "8.19K" and its bold header
    68, // Size: "33.3 KB"
    72, // Mean: "-0.00166"
    62, // Std
    72, // Min
    72, // Max
    54, // Zeros: ">99.9%" and its header
    anyFlags ? Math.ceil(flagChars * CHAR_PX.text + 2 * PAD) : 0,
  ];
  return {
    template: [`minmax(${NAME_MIN}px, 1fr)`, ...widths.map((w) => `${w}px`)].join(' '),
    width: NAME_MIN + widths.reduce((a, b) => a + b, 0),
    dtype,
    flags: anyFlags,
  };
}
