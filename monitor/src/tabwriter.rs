//! Elastic tabstops as Go's `text/tabwriter` computes them (left-aligned, space padding), so
//! that `nomos status` lines up its columns exactly as Config Sync's `nomos status` does.
//!
//! Cells are tab-terminated; the text after a line's last tab is not a cell and does not widen
//! its column. A column block is a run of consecutive lines that have a cell in that column;
//! every cell of a block is padded to the block's widest cell plus `padding` (at least
//! `minwidth`). A line without any tab ends the blocks above it.

/// Format `text` like Go's `tabwriter.NewWriter(w, minwidth, 0, padding, ' ', 0)`.
///
/// ```
/// let t = nomos_monitor::tabwriter::format("a\tbb\tx\nccc\td\t\nno tabs\n", 0, 2);
/// assert_eq!(t, "a    bb  x\nccc  d   \nno tabs\n");
/// ```
pub fn format(text: &str, minwidth: usize, padding: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut block: Vec<Vec<&str>> = Vec::new();
    let mut rest = text;
    loop {
        let (line, ended) = match rest.find('\n') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        if !ended && line.is_empty() {
            break;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let single = cells.len() == 1;
        block.push(cells);
        if !ended {
            flush(&block, minwidth, padding, &mut out, false);
            block.clear();
            break;
        }
        if single {
            flush(&block, minwidth, padding, &mut out, true);
            block.clear();
        }
        rest = &rest[line.len() + 1..];
    }
    if !block.is_empty() {
        flush(&block, minwidth, padding, &mut out, true);
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn flush(
    lines: &[Vec<&str>],
    minwidth: usize,
    padding: usize,
    out: &mut String,
    last_newline: bool,
) {
    let mut widths = Vec::new();
    let n = lines.len();
    format_block(
        lines,
        &mut widths,
        0,
        n,
        minwidth,
        padding,
        out,
        last_newline,
    );
}

#[allow(clippy::too_many_arguments)]
fn format_block(
    lines: &[Vec<&str>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    minwidth: usize,
    padding: usize,
    out: &mut String,
    last_newline: bool,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        // Does this line have a (tab-terminated) cell in this column?
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, widths, line0, this, out, last_newline);
        line0 = this;
        let mut w = minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(w);
        format_block(
            lines,
            widths,
            line0,
            this,
            minwidth,
            padding,
            out,
            last_newline,
        );
        widths.pop();
        line0 = this;
        // The line at `this` has no cell in this column: it is written with the next range.
        this += 1;
    }
    write_lines(lines, widths, line0, line1, out, last_newline);
}

fn write_lines(
    lines: &[Vec<&str>],
    widths: &[usize],
    from: usize,
    to: usize,
    out: &mut String,
    last_newline: bool,
) {
    for (i, line) in lines.iter().enumerate().take(to).skip(from) {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len()
                && let Some(w) = widths.get(j)
            {
                for _ in width(cell)..*w {
                    out.push(' ');
                }
            }
        }
        if i + 1 < lines.len() || last_newline {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn columns_align_within_blocks_only() {
        let text = "x\n  a\tlong value\t\n  bbbbbb\tv\t\nbreak\n  c\td\t\n";
        assert_eq!(
            format(text, 0, 3),
            "x\n  a        long value   \n  bbbbbb   v            \nbreak\n  c   d   \n"
        );
    }

    #[test]
    fn trailing_text_does_not_widen_columns() {
        let text = "  \tNS\tNAME\tSTATUS\n  \tshop\tconfigmap/a-very-long-name\tCurrent\n";
        assert_eq!(
            format(text, 0, 3),
            "     NS     NAME                         STATUS\n     shop   configmap/a-very-long-name   Current\n"
        );
    }

    #[test]
    fn nested_blocks() {
        // Column 1 exists only on the first two lines; column 0 spans three.
        let text = "a\tb\tc\naaaa\tbbbb\tc\naa\tz\n";
        assert_eq!(format(text, 0, 1), "a    b    c\naaaa bbbb c\naa   z\n");
    }

    #[test]
    fn no_trailing_newline_is_kept() {
        assert_eq!(format("a\tb", 0, 1), "a b");
        assert_eq!(format("", 0, 1), "");
    }
}
