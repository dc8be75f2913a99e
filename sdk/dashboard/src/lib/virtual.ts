// Windowing for long lists: only the rows in (or near) the viewport are
// rendered, so 10,000 jobs cost what 40 do.

export interface VisibleRange {
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Height of everything, px (the scroller's content). */
  total: number;
  /** Where row `start` begins, px. */
  offset: number;
}

/** The rows to render for a viewport of `height` px scrolled to `scrollTop`. */
export function visibleRange(
  count: number,
  rowHeight: number,
  scrollTop: number,
  height: number,
  overscan = 8,
): VisibleRange {
  const rows = Math.max(0, Math.floor(count));
  const size = rowHeight > 0 ? rowHeight : 1;
  const total = rows * size;
  const top = Math.min(Math.max(0, scrollTop), Math.max(0, total - Math.max(0, height)));
  const first = Math.floor(top / size);
  const shown = Math.ceil(Math.max(0, height) / size) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(rows, first + shown + overscan);
  return { start, end: Math.max(start, end), total, offset: start * size };
}
