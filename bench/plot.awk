# plot.awk: the scaling plot of bench/run, as a small SVG with no plotting library.
# Input: one line per store size, "records lookup login sweep", each a time (any unit) at that
# size; "-" for a figure that was not measured. Every series is drawn relative to its value at
# the smallest size, on log-log axes, with the line a linear cost would follow.
# Variables: machine (a line of text for the foot of the plot).

function lg(v) { return log(v) / log(10) }
function px(n) { return left + (lg(n) - x0) / (x1 - x0) * width }
function py(v) { return top + height - (lg(v) - y0) / (y1 - y0) * height }
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); return s }
function label(n) {
    if (n >= 1000000) return n / 1000000 "M"
    if (n >= 1000) return n / 1000 "k"
    return n
}
function series(col, color, dash, name, ly,    i, d, v) {
    d = ""
    for (i = 1; i <= rows; i++) {
        if (val[i, col] == "-" || val[1, col] == "-" || val[1, col] <= 0) continue
        v = val[i, col] / val[1, col]
        if (v <= 0) continue
        d = d (d == "" ? "M" : " L") sprintf("%.1f,%.1f", px(n[i]), py(v))
        printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(n[i]), py(v), color
    }
    if (d != "")
        printf "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
            d, color, dash
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"%s\"/>\n",
        left + 12, ly, left + 36, ly, color, dash
    printf "<text x=\"%d\" y=\"%d\">%s</text>\n", left + 42, ly + 4, name
}

$1 ~ /^[0-9]+$/ {
    rows++
    n[rows] = $1
    for (c = 2; c <= 4; c++) val[rows, c] = $c
}

END {
    if (rows < 2) exit 1
    left = 70; top = 40; width = 520; height = 300
    x0 = int(lg(n[1]) + 1e-9); x1 = lg(n[rows])
    if (x1 > int(x1) + 1e-9) x1 = int(x1) + 1
    if (x1 <= x0) x1 = x0 + 1
    # y: from below the flat lines to above the linear one.
    y0 = -1; y1 = x1 - x0
    for (i = 1; i <= rows; i++)
        for (c = 2; c <= 4; c++)
            if (val[i, c] != "-" && val[1, c] != "-" && val[1, c] > 0 && val[i, c] > 0) {
                v = lg(val[i, c] / val[1, c])
                while (v < y0) y0--
                while (v > y1) y1++
            }

    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" ", \
        left + width + 30, top + height + 80
    printf "font-family=\"sans-serif\" font-size=\"12\">\n"
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    printf "<text x=\"%d\" y=\"22\" font-size=\"15\">relaylease: time at N records, relative to %s records</text>\n", \
        left, label(n[1])
    for (e = x0; e <= x1; e++) {
        x = left + (e - x0) / (x1 - x0) * width
        printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, top, x, top + height
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, top + height + 16, label(10 ^ e)
    }
    for (e = y0; e <= y1; e++) {
        y = top + height - (e - y0) / (y1 - y0) * height
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y, left + width, y
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", left - 6, y + 4, (10 ^ e) "x"
    }
    printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", left, top, width, height
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">records in the store (log scale)</text>\n", \
        left + width / 2, top + height + 34

    # What a linear cost would do, from the first point.
    printf "<path d=\"M%.1f,%.1f L%.1f,%.1f\" stroke=\"#999\" stroke-dasharray=\"5,4\" fill=\"none\"/>\n", \
        px(n[1]), py(1), px(n[rows]), py(n[rows] / n[1])
    ly = top + 16
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#999\" stroke-dasharray=\"5,4\"/>\n", \
        left + 12, ly + 48, left + 36, ly + 48
    printf "<text x=\"%d\" y=\"%d\">linear</text>\n", left + 42, ly + 52
    series(2, "#1f77b4", "none", "lookup (relay-check, per connection)", ly)
    series(3, "#2ca02c", "7,4", "login (relay-allow, per login)", ly + 16)
    series(4, "#d62728", "none", "sweep (relay-expire, whole store)", ly + 32)
    printf "<text x=\"%d\" y=\"%d\" fill=\"#555\" font-size=\"10\">%s</text>\n", left, top + height + 56, esc(machine)
    printf "</svg>\n"
}
