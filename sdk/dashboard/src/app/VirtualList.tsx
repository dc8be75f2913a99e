import { useEffect, useRef, useState, type ReactNode } from "react";
import { visibleRange } from "../lib/virtual";

interface Props<T> {
  items: readonly T[];
  rowHeight: number;
  /** The list's accessible name. */
  label: string;
  /** Column headings row, kept above the scroller. */
  header: ReactNode;
  row: (item: T, index: number) => ReactNode;
  empty: ReactNode;
  testId: string;
}

/**
 * A scrolling list that renders only the rows in view (plus a margin), so
 * thousands of rows stay smooth. Rows are fixed-height.
 */
export function VirtualList<T>({ items, rowHeight, label, header, row, empty, testId }: Props<T>) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const element = scroller.current;
    if (element === null) return undefined;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    setHeight(element.clientHeight);
    return () => observer.disconnect();
  }, []);
  const range = visibleRange(items.length, rowHeight, scrollTop, height);
  const rows: ReactNode[] = [];
  for (let index = range.start; index < range.end; index++) {
    const item = items[index];
    if (item !== undefined) rows.push(row(item, index));
  }
  return (
    <div className="table" role="table" aria-label={label} aria-rowcount={items.length + 1} data-testid={testId}>
      <div role="rowgroup" className="table-head">
        {header}
      </div>
      <div
        className="table-body"
        ref={scroller}
        role="rowgroup"
        onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
      >
        {items.length === 0 ? (
          <div className="empty">{empty}</div>
        ) : (
          <div className="table-sizer" style={{ height: range.total }}>
            <div className="table-window" style={{ transform: `translateY(${range.offset}px)` }}>
              {rows}
            </div>
          </div>
        )}
      </div>
    </div>
  );
}
