// render_svg: the heatmap as a self-contained SVG document. The layout, top
// to bottom: title and captions, round numbers, the plot (cells, held-page
// hatches, round and stop lines), the axes, the legend.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "sim/heatmap.h"

namespace dpdc {

namespace {

std::string num(double v, int decimals = 2) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {  // trim trailing zeros: "12.50" -> "12.5", "3.00" -> "3"
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// 1, 2 or 5 times a power of ten, at least raw.
double nice_step(double raw) {
  if (!(raw > 0)) return 1;
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  }
  return 10 * p;
}

int decimals_for(double step) { return step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9)); }

std::string page_label(std::uint64_t p) {
  if (p < 10'000) return std::to_string(p);
  if (p < 10'000'000) return num(static_cast<double>(p) / 1e3, 1) + "k";
  return num(static_cast<double>(p) / 1e6, 2) + "M";
}

std::string duration_label(std::uint64_t ns) {
  if (ns >= 1'000'000'000) return num(static_cast<double>(ns) / 1e9, 2) + " s";
  if (ns >= 1'000'000) return num(static_cast<double>(ns) / 1e6, 2) + " ms";
  if (ns >= 1'000) return num(static_cast<double>(ns) / 1e3, 2) + " us";
  return std::to_string(ns) + " ns";
}

// A moment in the trace: "0 s" rather than "0 ns" at its beginning.
std::string moment_label(std::uint64_t ns) { return ns ? duration_label(ns) : "0 s"; }

struct Rgb {
  double r, g, b;
};

// Sequential, cold to hot (ColorBrewer YlOrRd without its palest step, so a
// single event still stands out from the white "no events" background).
constexpr std::array<Rgb, 8> kPalette{{{255, 237, 160},
                                       {254, 217, 118},
                                       {254, 178, 76},
                                       {253, 141, 60},
                                       {252, 78, 42},
                                       {227, 26, 28},
                                       {189, 0, 38},
                                       {128, 0, 38}}};
constexpr unsigned kLevels = 48;  // colour quantisation: equal neighbours merge into one rect
// The held-page marks: blue "/" for final, teal "\\" for deferred, so a cell
// holding both is cross-hatched and either reads on the yellow-to-red cells.
constexpr const char* kFinalColour = "#1d4ed8";
constexpr const char* kDeferredColour = "#0f766e";

std::string colour_at(double t) {
  t = std::clamp(t, 0.0, 1.0) * (kPalette.size() - 1);
  std::size_t i = std::min<std::size_t>(static_cast<std::size_t>(t), kPalette.size() - 2);
  double f = t - static_cast<double>(i);
  const Rgb& a = kPalette[i];
  const Rgb& b = kPalette[i + 1];
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", static_cast<unsigned>(std::lround(a.r + (b.r - a.r) * f)),
                static_cast<unsigned>(std::lround(a.g + (b.g - a.g) * f)),
                static_cast<unsigned>(std::lround(a.b + (b.b - a.b) * f)));
  return buf;
}

// Position of a count on the log colour scale, 0..1.
double scale_pos(std::uint32_t n, std::uint32_t max) {
  if (max <= 1) return n ? 1.0 : 0.0;
  return std::log1p(static_cast<double>(n)) / std::log1p(static_cast<double>(max));
}

unsigned level_of(std::uint32_t n, std::uint32_t max) {
  if (n == 0) return 0;
  // scale_pos(1) is > 0; map [scale_pos(1), 1] onto levels 1..kLevels.
  double lo = scale_pos(1, max);
  double t = max <= 1 ? 1.0 : (scale_pos(n, max) - lo) / (1.0 - lo);
  return 1 + static_cast<unsigned>(std::lround(std::clamp(t, 0.0, 1.0) * (kLevels - 1)));
}

// Largest font size (7..11 px) at which `chars` characters of sans-serif fit in `room` px.
double fit_font(std::size_t chars, double room) {
  return std::clamp(room / (0.56 * static_cast<double>(std::max<std::size_t>(chars, 1))), 7.0, 11.0);
}

double level_colour_pos(unsigned level) { return kLevels <= 1 ? 1.0 : static_cast<double>(level - 1) / (kLevels - 1); }

// Share of a group's pages held, in three steps: 0 none, 1 under a quarter,
// 2 a quarter or more, 3 half or more.
unsigned share_level(std::uint64_t held, std::uint64_t in_group) {
  if (held == 0) return 0;
  if (2 * held >= in_group) return 3;
  return 4 * held >= in_group ? 2 : 1;
}

// Hatch patterns per share level: sparse, medium, dense.
constexpr std::array<const char*, 4> kHatchSize{"", "10", "6", "5"};
constexpr std::array<const char*, 4> kHatchWidth{"", "0.8", "1.2", "1.6"};
constexpr std::array<const char*, 4> kHatchOpacity{"", "0.55", "0.85", "1"};
constexpr std::array<const char*, 4> kHaloWidth{"", "1.6", "2", "2.4"};

// Each hatch line has a thin white edge under it, so it stays visible on the
// darkest cells as well as on the palest.
std::string hatch_pattern(const std::string& id, int angle, const char* colour, unsigned lv) {
  const std::string line = "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"" + std::string(kHatchSize[lv]) + "\" ";
  return "<pattern id=\"" + id + "\" width=\"" + kHatchSize[lv] + "\" height=\"" + kHatchSize[lv] +
         "\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(" + std::to_string(angle) + ")\">" + line +
         "stroke=\"#ffffff\" stroke-width=\"" + kHaloWidth[lv] + "\" stroke-opacity=\"0.6\"/>" + line + "stroke=\"" +
         colour + "\" stroke-width=\"" + kHatchWidth[lv] + "\" stroke-opacity=\"" + kHatchOpacity[lv] +
         "\"/></pattern>\n";
}

// Where things go, from the options' size and the heatmap's shape.
struct Layout {
  double W, H;
  unsigned B, G;
  double x0 = 84, y0;  // plot's top-left: below the title, the captions and the round numbers
  double plot_w, plot_h, cw, ch;
  bool side_by_side;        // legend in one band, else the marks' legend under the colour scale
  std::uint64_t span_ns;    // the plot's time range, [0, span_ns)

  static constexpr double kCaptionTop = 38, kCaptionStep = 14;

  Layout(const Heatmap& h, const HeatmapOptions& o, std::size_t caption_lines)
      : W(o.width), H(o.height), B(h.time_bins), G(h.page_groups) {
    y0 = kCaptionTop + kCaptionStep * static_cast<double>(caption_lines) + 12;
    const double mr = 24;
    plot_w = W - x0 - mr;
    side_by_side = plot_w >= 720;
    const double mb = side_by_side ? 128 : 196;
    plot_h = H - y0 - mb;
    cw = B ? plot_w / B : plot_w;
    ch = G ? plot_h / G : plot_h;
    span_ns = std::uint64_t{B} * h.bin_ns;
  }
  double bottom() const { return y0 + plot_h; }
  double cell_x(unsigned b) const { return x0 + cw * b; }
  double cell_y(unsigned g) const { return y0 + ch * g; }
  // x of a trace time, clamped to the plot.
  double time_x(std::uint64_t t) const {
    return x0 + plot_w * std::min(1.0, static_cast<double>(t) / static_cast<double>(std::max<std::uint64_t>(span_ns, 1)));
  }
};

// One rect per run of cells with the same non-zero level within a row.
template <class Level, class Fill>
void runs_of_cells(const Layout& L, std::string& s, Level level, Fill fill) {
  for (unsigned g = 0; g < L.G; ++g) {
    unsigned b = 0;
    while (b < L.B) {
      const unsigned lv = level(g, b);
      unsigned e = b + 1;
      while (e < L.B && level(g, e) == lv) ++e;
      if (lv) {
        s += "<rect x=\"" + num(L.cell_x(b)) + "\" y=\"" + num(L.cell_y(g)) + "\" width=\"" + num(L.cw * (e - b)) +
             "\" height=\"" + num(L.ch) + "\" fill=\"" + fill(lv) + "\"/>\n";
      }
      b = e;
    }
  }
}

// The outline of the cells where `inside` holds, as one path of cell edges.
template <class Inside>
std::string outline_path(const Layout& L, Inside inside) {
  std::string path;
  for (unsigned g = 0; g <= L.G; ++g) {  // horizontal edges between row g-1 and row g
    auto edge = [&](unsigned c) { return (g > 0 && inside(g - 1, c)) != (g < L.G && inside(g, c)); };
    for (unsigned b = 0; b < L.B;) {
      if (!edge(b)) { ++b; continue; }
      unsigned e = b + 1;
      while (e < L.B && edge(e)) ++e;
      path += "M" + num(L.cell_x(b)) + " " + num(L.cell_y(g)) + "H" + num(L.cell_x(e));
      b = e;
    }
  }
  for (unsigned b = 0; b <= L.B; ++b) {  // vertical edges between column b-1 and column b
    auto edge = [&](unsigned r) { return (b > 0 && inside(r, b - 1)) != (b < L.B && inside(r, b)); };
    for (unsigned g = 0; g < L.G;) {
      if (!edge(g)) { ++g; continue; }
      unsigned e = g + 1;
      while (e < L.G && edge(e)) ++e;
      path += "M" + num(L.cell_x(b)) + " " + num(L.cell_y(g)) + "V" + num(L.cell_y(e));
      g = e;
    }
  }
  return path;
}

// The captions under the title: the trace and cell size; the simulated
// migration; how it ended; what the marks are; and, when the migration
// outlasts the trace, what is not drawn.
std::vector<std::string> captions(const Heatmap& h) {
  std::vector<std::string> out;
  out.push_back(std::to_string(h.total_events) + " dirty events on " + std::to_string(h.pages) + " pages over " +
                duration_label(h.duration_ns) + "; cell = " + std::to_string(h.pages_per_group) +
                (h.pages_per_group == 1 ? " page x " : " pages x ") + duration_label(h.bin_ns));
  const std::size_t n = h.rounds.size();
  out.push_back("Simulated DPDC v2 migration (simulate --policy dpdc) from " + moment_label(h.start_ns) +
                " at " + num(h.bandwidth_mb_s) + " MB/s, downtime limit " + std::to_string(h.downtime_limit_ms) +
                " ms: " + std::to_string(n) + (n == 1 ? " round" : " rounds") + ", then stop-and-copy (round " +
                std::to_string(n + 1) + ")");
  out.push_back("Guest stopped at " + moment_label(h.stop_ns) + ": " + h.stop_reason + "; last page sent at " +
                moment_label(h.end_ns));
  out.push_back("Hatched: the pages DPDC held back in each round; before the migration starts, the trace is the "
                "history DPDC predicts from");
  if (!h.within_trace(h.end_ns)) {
    std::uint32_t hidden = 0;  // the first round that begins past the trace
    for (const auto& r : h.rounds) {
      if (!h.within_trace(r.start_ns)) {
        hidden = r.round;
        break;
      }
    }
    const std::string past = hidden ? "rounds from " + std::to_string(hidden) + " on and the stop lie"
                             : !h.within_trace(h.stop_ns) ? "the stop lies"
                                                          : "the end of the stop-and-copy round lies";
    out.push_back("The migration outlasts the trace (the simulator replays it): " + past +
                  " past the right edge; start earlier or use more bandwidth to see them");
  }
  return out;
}

// Where the rounds begin (dashed, numbered above the plot), where the guest
// stops (solid) and the stop-and-copy round (shaded); clipped to the plot.
void add_migration_lines(const Heatmap& h, const Layout& L, std::string& s) {
  const double top = L.y0, bottom = L.bottom();
  const bool stop_shown = h.within_trace(h.stop_ns);
  s += "<g>\n";
  if (stop_shown) {
    const double xs = L.time_x(h.stop_ns), xe = L.time_x(h.end_ns);
    s += "<rect x=\"" + num(xs) + "\" y=\"" + num(top) + "\" width=\"" + num(std::max(xe - xs, 1.0)) + "\" height=\"" +
         num(L.plot_h) + "\" fill=\"#6b7280\" fill-opacity=\"0.3\"/>\n";
  }
  std::string dashed;
  for (const auto& r : h.rounds) {
    if (!h.within_trace(r.start_ns)) break;
    dashed += "M" + num(L.time_x(r.start_ns)) + " " + num(top - 3) + "V" + num(bottom);
  }
  if (!dashed.empty()) {
    s += "<path d=\"" + dashed + "\" fill=\"none\" stroke=\"#222222\" stroke-width=\"0.8\" stroke-dasharray=\"4 3\"/>\n";
  }
  // Labels, 10 px: about 6 px a character. A round number that would
  // overlap one already placed is left out (late rounds are short). "stop"
  // goes right of its line, past the last round number; at the right edge,
  // left of it, placed first.
  std::vector<std::pair<double, double>> taken;
  auto free_at = [&](double a, double b) {
    return std::none_of(taken.begin(), taken.end(), [&](const auto& t) { return a < t.second + 2 && t.first < b + 2; });
  };
  const double label_y = top - 5, stop_x = L.time_x(h.stop_ns), stop_w = 24;
  const bool stop_right = stop_x + 3 + stop_w <= L.W - 2;
  s += "<g font-size=\"10\" fill=\"#111111\">\n";
  auto stop_label = [&](double x, const char* anchor) {
    s += "<text x=\"" + num(x) + "\" y=\"" + num(label_y) + "\" text-anchor=\"" + anchor +
         "\" font-weight=\"bold\">stop</text>\n";
  };
  if (stop_shown) {
    s += "<path d=\"M" + num(stop_x) + " " + num(top - 3) + "V" + num(bottom) +
         "\" stroke=\"#111111\" stroke-width=\"1.8\"/>\n";
    if (!stop_right) {
      stop_label(stop_x - 3, "end");
      taken.emplace_back(stop_x - 3 - stop_w, stop_x);
    }
  }
  if (!h.rounds.empty() && h.within_trace(h.rounds.front().start_ns)) {
    s += "<text x=\"" + num(L.x0 - 6) + "\" y=\"" + num(label_y) + "\" text-anchor=\"end\">round</text>\n";
  }
  double last_end = 0;
  for (const auto& r : h.rounds) {
    if (!h.within_trace(r.start_ns)) break;
    const double a = L.time_x(r.start_ns), b = L.time_x(std::max(r.end_ns, r.start_ns));
    const std::string label = std::to_string(r.round);
    const double w = 6.0 * static_cast<double>(label.size()), c = (a + b) / 2;
    if (!free_at(c - w / 2, c + w / 2)) continue;
    taken.emplace_back(c - w / 2, c + w / 2);
    last_end = c + w / 2;
    // The round's numbers as a tooltip, for a viewer that shows them.
    const std::string tip = "round " + label + ": " + moment_label(r.start_ns) + " to " + moment_label(r.end_ns) +
                            "; held " + std::to_string(r.final_pages) + " pages final, " +
                            std::to_string(r.deferred_pages) + " deferred";
    s += "<text x=\"" + num(c) + "\" y=\"" + num(label_y) + "\" text-anchor=\"middle\"><title>" + tip + "</title>" +
         label + "</text>\n";
  }
  if (stop_shown && stop_right) {
    const double x = std::max(stop_x + 3, last_end + 4);
    stop_label(x + stop_w <= L.W - 2 ? x : stop_x + 3, "start");
  }
  s += "</g>\n</g>\n";
}

void add_axes(const Heatmap& h, const Layout& L, std::string& s) {
  const double x0 = L.x0, y0 = L.y0, bottom = L.bottom();
  s += "<g fill=\"#222222\" stroke=\"#333333\">\n";
  {
    // Seconds, unless the whole trace is shorter than one: then ms, us or ns.
    double unit_ns = 1e9;
    const char* unit = "s";
    if (L.span_ns < 1'000'000'000) unit_ns = 1e6, unit = "ms";
    if (L.span_ns < 1'000'000) unit_ns = 1e3, unit = "us";
    if (L.span_ns < 1'000) unit_ns = 1, unit = "ns";
    const double span = static_cast<double>(L.span_ns) / unit_ns;
    const double step = nice_step(span / std::max(2.0, L.plot_w / 90));
    const int dec = decimals_for(step);
    for (int i = 0;; ++i) {
      const double t = i * step;
      if (t > span * (1 + 1e-9)) break;
      const double x = x0 + (span > 0 ? t / span : 0) * L.plot_w;
      s += "<line x1=\"" + num(x) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(x) + "\" y2=\"" + num(bottom + 5) +
           "\"/><text x=\"" + num(x) + "\" y=\"" + num(bottom + 18) + "\" text-anchor=\"middle\" stroke=\"none\">" +
           num(t, dec) + "</text>\n";
    }
    s += "<text x=\"" + num(x0 + L.plot_w / 2) + "\" y=\"" + num(bottom + 36) +
         "\" text-anchor=\"middle\" stroke=\"none\" font-size=\"12\">time since the trace began (" + std::string(unit) +
         ")</text>\n";
  }
  {
    const double span = static_cast<double>(std::uint64_t{L.G} * h.pages_per_group);
    const double step = std::max(1.0, nice_step(span / std::max(2.0, L.plot_h / 45)));
    for (int i = 0;; ++i) {
      const double p = i * step;
      if (p > span * (1 + 1e-9)) break;
      const double y = y0 + p / span * L.plot_h;
      s += "<line x1=\"" + num(x0 - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x0) + "\" y2=\"" + num(y) +
           "\"/><text x=\"" + num(x0 - 8) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\" stroke=\"none\">" +
           page_label(static_cast<std::uint64_t>(p)) + "</text>\n";
    }
    s += "<text x=\"18\" y=\"" + num(y0 + L.plot_h / 2) +
         "\" text-anchor=\"middle\" stroke=\"none\" font-size=\"12\" transform=\"rotate(-90 18 " +
         num(y0 + L.plot_h / 2) + ")\">guest page index</text>\n";
  }
  s += "</g>\n";
}

// The colour scale: a gradient bar with ticks at powers of ten and the maximum.
void add_colour_scale(const Heatmap& h, double x0, double ly, double bar_w, std::string& s) {
  s += "<text x=\"" + num(x0) + "\" y=\"" + num(ly) + "\">dirty events per cell (log scale; white: none)</text>\n";
  s += "<rect x=\"" + num(x0) + "\" y=\"" + num(ly + 6) + "\" width=\"" + num(bar_w) +
       "\" height=\"10\" fill=\"url(#scale)\" stroke=\"#333333\" stroke-width=\"0.5\"/>\n";
  if (h.max_events == 0) {
    s += "<text x=\"" + num(x0) + "\" y=\"" + num(ly + 30) + "\">no dirty events in this trace</text>\n";
    return;
  }
  const double lo = scale_pos(1, h.max_events);
  auto tick_x = [&](std::uint32_t n) {
    const double t = h.max_events <= 1 ? 1.0 : (scale_pos(n, h.max_events) - lo) / (1.0 - lo);
    return x0 + t * bar_w;
  };
  const double max_x = tick_x(h.max_events);
  for (std::uint64_t n = 1; n < h.max_events; n *= 10) {
    if (n != 1 && max_x - tick_x(static_cast<std::uint32_t>(n)) < 30) continue;  // would collide with the max label
    if (n == 1 && max_x - tick_x(1) < 16) continue;
    s += "<text x=\"" + num(tick_x(static_cast<std::uint32_t>(n))) + "\" y=\"" + num(ly + 30) +
         "\" text-anchor=\"middle\">" + std::to_string(n) + "</text>\n";
  }
  s += "<text x=\"" + num(max_x) + "\" y=\"" + num(ly + 30) + "\" text-anchor=\"middle\">" +
       std::to_string(h.max_events) + "</text>\n";
}

// The marks, one row each: final, deferred, what the density and outline
// mean, and the round and stop lines. Swatches on the left, words beside.
void add_marks_legend(const Heatmap& h, const Layout& L, double dx, double dy, std::string& s) {
  constexpr double kRow = 20, kSwatch = 36;
  const std::array<std::string, 4> words{
      "final: held until the stop-and-copy round (dirtied again within the " + std::to_string(h.downtime_limit_ms) +
          " ms downtime limit)",
      "deferred: held back for one round (warm: likely dirtied again while that round is sent)",
      "denser: more of the group held (the most in any round in the bin); outlined: half or more final",
      "dashed: a round begins (number above the plot); solid: guest stopped; shaded: stop-and-copy round"};
  const double tx = dx + 3 * kSwatch + 6;
  std::size_t longest = 0;
  for (const auto& w : words) longest = std::max(longest, w.size());
  const double fs = fit_font(longest, L.W - tx - 8);  // shrink to stay inside a narrow picture
  for (unsigned lv = 1; lv <= 3; ++lv) {
    const double sx = dx + (lv - 1) * kSwatch;
    const bool outlined = lv == 3;
    s += "<rect x=\"" + num(sx) + "\" y=\"" + num(dy) + "\" width=\"30\" height=\"14\" fill=\"url(#final" +
         std::to_string(lv) + ")\" stroke=\"" + (outlined ? kFinalColour : "#999999") + "\" stroke-width=\"" +
         (outlined ? "1.5" : "0.5") + "\"/>\n";
    s += "<rect x=\"" + num(sx) + "\" y=\"" + num(dy + kRow) + "\" width=\"30\" height=\"14\" fill=\"url(#deferred" +
         std::to_string(lv) + ")\" stroke=\"#999999\" stroke-width=\"0.5\"/>\n";
  }
  const char* share[] = {"&lt; 1/4", "\u2265 1/4", "\u2265 1/2"};
  for (unsigned i = 0; i < 3; ++i) {
    s += "<text x=\"" + num(dx + i * kSwatch + 15) + "\" y=\"" + num(dy + 2 * kRow + 11) +
         "\" text-anchor=\"middle\" font-size=\"9\">" + share[i] + "</text>\n";
  }
  const double ly = dy + 3 * kRow;
  s += "<path d=\"M" + num(dx + 8) + " " + num(ly) + "V" + num(ly + 14) +
       "\" stroke=\"#222222\" stroke-width=\"0.8\" stroke-dasharray=\"4 3\"/>\n";
  s += "<rect x=\"" + num(dx + kSwatch) + "\" y=\"" + num(ly) + "\" width=\"" + num(2 * kSwatch - 6) +
       "\" height=\"14\" fill=\"#6b7280\" fill-opacity=\"0.3\"/>\n";
  s += "<path d=\"M" + num(dx + kSwatch) + " " + num(ly) + "V" + num(ly + 14) +
       "\" stroke=\"#111111\" stroke-width=\"1.8\"/>\n";
  for (std::size_t i = 0; i < words.size(); ++i) {
    s += "<text x=\"" + num(tx) + "\" y=\"" + num(dy + kRow * static_cast<double>(i) + 11) + "\" font-size=\"" +
         num(fs, 1) + "\">" + xml_escape(words[i]) + "</text>\n";
  }
}

void add_legend(const Heatmap& h, const Layout& L, std::string& s) {
  const double ly = L.bottom() + 56;
  const double bar_w = std::min(240.0, L.plot_w * 0.45);
  s += "<g fill=\"#222222\">\n";
  add_colour_scale(h, L.x0, ly, bar_w, s);
  // Beside the colour scale when wide; under it when narrow.
  if (L.side_by_side) {
    add_marks_legend(h, L, L.x0 + bar_w + 40, ly - 12, s);
  } else {
    add_marks_legend(h, L, L.x0, ly + 40, s);
  }
  s += "</g>\n";
}
}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {  // copy a well-formed UTF-8 sequence; anything else becomes '?'
      std::size_t len = u >= 0xf0 && u <= 0xf4 ? 4 : u >= 0xe0 ? 3 : u >= 0xc2 && u <= 0xdf ? 2 : 0;
      bool ok = len > 0 && i + len <= text.size();
      for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
      if (!ok) {
        out += '?';
        continue;
      }
      out.append(text, i, len);
      i += len - 1;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
  }
  return out;
}

std::string render_svg(const Heatmap& h, const HeatmapOptions& options) {
  validate_heatmap_options(options);
  const std::vector<std::string> caption = captions(h);
  const Layout L(h, options, caption.size());
  const double W = L.W, H = L.H, x0 = L.x0, y0 = L.y0;
  auto final_level = [&](unsigned g, unsigned b) { return share_level(h.final_at(g, b), h.group_pages(g)); };
  auto deferred_level = [&](unsigned g, unsigned b) { return share_level(h.deferred_at(g, b), h.group_pages(g)); };

  std::string s;
  s.reserve(64 * 1024);
  auto add = [&s](const std::string& part) { s += part; };

  const std::string title = options.title.empty() ? "Dirty pages and DPDC's held pages" : options.title;
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(W) + "\" height=\"" + num(H) +
      "\" viewBox=\"0 0 " + num(W) + " " + num(H) + "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n");
  add("<title>" + xml_escape(title) + "</title>\n");
  add("<defs>\n");
  for (unsigned lv = 1; lv <= 3; ++lv) {
    add(hatch_pattern("final" + std::to_string(lv), 45, kFinalColour, lv));
    add(hatch_pattern("deferred" + std::to_string(lv), -45, kDeferredColour, lv));
  }
  add("<linearGradient id=\"scale\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">");
  for (std::size_t i = 0; i < kPalette.size(); ++i) {
    double t = static_cast<double>(i) / (kPalette.size() - 1);
    add("<stop offset=\"" + num(t, 4) + "\" stop-color=\"" + colour_at(t) + "\"/>");
  }
  add("</linearGradient>\n</defs>\n");
  add("<rect x=\"0\" y=\"0\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" fill=\"#ffffff\"/>\n");

  // Title and captions.
  add("<text x=\"" + num(x0) + "\" y=\"22\" font-size=\"16\" font-weight=\"bold\" fill=\"#111111\">" +
      xml_escape(title) + "</text>\n");
  for (std::size_t i = 0; i < caption.size(); ++i) {
    const double cx = fit_font(caption[i].size(), W - x0 - 8) >= 11 ? x0 : 8;
    add("<text x=\"" + num(cx) + "\" y=\"" + num(Layout::kCaptionTop + Layout::kCaptionStep * static_cast<double>(i)) +
        "\" fill=\"" + (i == 0 ? "#444444" : "#222222") + "\" font-size=\"" +
        num(fit_font(caption[i].size(), W - cx - 8), 1) + "\">" + xml_escape(caption[i]) + "</text>\n");
  }

  // Cells, coloured by events.
  add("<g shape-rendering=\"crispEdges\">\n");
  runs_of_cells(L, s, [&](unsigned g, unsigned b) { return level_of(h.events_at(g, b), h.max_events); },
                [](unsigned lv) { return colour_at(level_colour_pos(lv)); });
  add("</g>\n");

  // Held pages: a hatch per kind whose density grows with the share of the
  // group held, and an outline around cells where half or more is final.
  // Clipped to the iterative rounds, which rarely begin and end on a bin's
  // edge: no mark reaches before the start or into the stop-and-copy round.
  const double clip_a = L.time_x(h.start_ns), clip_b = L.time_x(h.stop_ns);  // time_x stops at the right edge
  add("<clipPath id=\"rounds\"><rect x=\"" + num(clip_a) + "\" y=\"" + num(y0 - 1) + "\" width=\"" +
      num(std::max(clip_b - clip_a, 0.0)) + "\" height=\"" + num(L.plot_h + 2) + "\"/></clipPath>\n");
  add("<g clip-path=\"url(#rounds)\">\n");
  runs_of_cells(L, s, deferred_level, [](unsigned lv) { return "url(#deferred" + std::to_string(lv) + ")"; });
  runs_of_cells(L, s, final_level, [](unsigned lv) { return "url(#final" + std::to_string(lv) + ")"; });
  const std::string outline = outline_path(L, [&](unsigned g, unsigned b) { return final_level(g, b) == 3; });
  if (!outline.empty()) {
    add("<path d=\"" + outline + "\" fill=\"none\" stroke=\"" + kFinalColour +
        "\" stroke-width=\"1.5\" stroke-linecap=\"square\"/>\n");
  }
  add("</g>\n");

  add_migration_lines(h, L, s);

  // Frame and axes.
  add("<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(L.plot_w) + "\" height=\"" + num(L.plot_h) +
      "\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n");
  add_axes(h, L, s);
  add_legend(h, L, s);
  add("</svg>\n");
  return s;
}
}  // namespace dpdc
