#include "heatmap.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "dpdc/dirty_track.h"
#include "dpdc/error.h"
#include "policy_dpdc.h"

namespace dpdc {

namespace {

constexpr unsigned kMaxBins = 10'000;
constexpr unsigned kMaxGroups = 100'000;
constexpr std::uint64_t kMaxCells = std::uint64_t{1} << 24;
constexpr unsigned kMinWidth = 600, kMinHeight = 400, kMaxSide = 20'000;

[[noreturn]] void usage(const std::string& message) { throw Error(ErrorKind::Usage, message); }

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return a / b + (a % b != 0); }

// --- delayed counting ---------------------------------------------------------
//
// classify_page(rec, now, h) with count >= 2, I = last - prev, next = last + I:
//   Send  if next + I < now            (stayed clean twice its interval)
//   Delay if next <= now + h           (next dirtying expected within the horizon)
// so for a fixed record, Delay holds exactly for now in [max(next - h, 0), next + I]:
// one interval. A record is in force at the ends of the bins from the bin of its
// last event up to the bin before the page's next event, so the bins at whose
// end it is delayed are one range, added to a per-group difference array.
// tests/unit/test_heatmap.cpp checks this against classify_page bin by bin.
struct DelayCounter {
  unsigned bins;
  std::uint64_t bin_ns, horizon_ns;
  std::vector<std::int64_t> diff;  // [group * (bins + 1) + bin]

  unsigned bin_of(std::uint64_t t) const {
    return static_cast<unsigned>(std::min<std::uint64_t>(t / bin_ns, bins - 1));
  }

  // Record `r` (count >= 2) is in force at the ends of bins [bin_of(r.last_ns), to].
  void add(const dpdc_page& r, std::uint64_t group, unsigned to) {
    unsigned from = bin_of(r.last_ns);
    if (from > to) return;
    std::uint64_t interval = r.last_ns - r.prev_ns;
    std::uint64_t next = r.last_ns + interval;
    std::uint64_t start = next > horizon_ns ? next - horizon_ns : 0;  // earliest `now` that delays
    std::uint64_t stop = next + interval;                                 // latest `now` that delays
    // Bin b ends at (b + 1) * bin_ns: first bin ending at or after start, last ending at or before stop.
    std::uint64_t lo = start == 0 ? 0 : ceil_div(start, bin_ns) - 1;
    std::uint64_t last_end = stop / bin_ns;  // number of bin ends <= stop
    if (last_end == 0) return;
    std::uint64_t hi = last_end - 1;
    lo = std::max<std::uint64_t>(lo, from);
    hi = std::min<std::uint64_t>(hi, to);
    if (lo > hi) return;
    std::size_t row = group * (std::size_t{bins} + 1);
    ++diff[row + lo];
    --diff[row + hi + 1];
  }
};

// --- SVG helpers ----------------------------------------------------------------

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
constexpr const char* kDelayColour = "#1d4ed8";

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

void validate_heatmap_options(const HeatmapOptions& o) {
  if (o.time_bins == 0 || o.time_bins > kMaxBins) {
    usage("heatmap time bins must be 1.." + std::to_string(kMaxBins) + " (got " + std::to_string(o.time_bins) +
          "); 120 is a good default");
  }
  if (o.page_groups == 0 || o.page_groups > kMaxGroups) {
    usage("heatmap page groups must be 1.." + std::to_string(kMaxGroups) + " (got " + std::to_string(o.page_groups) +
          "); 256 is a good default");
  }
  if (std::uint64_t{o.time_bins} * o.page_groups > kMaxCells) {
    usage("heatmap has too many cells (" + std::to_string(std::uint64_t{o.time_bins} * o.page_groups) +
          " > " + std::to_string(kMaxCells) + "); use fewer time bins or page groups");
  }
  if (o.width < kMinWidth || o.height < kMinHeight || o.width > kMaxSide || o.height > kMaxSide) {
    usage("heatmap size " + std::to_string(o.width) + "x" + std::to_string(o.height) + " px is out of range; use " +
          std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight) + " to " + std::to_string(kMaxSide) + "x" +
          std::to_string(kMaxSide));
  }
}

Heatmap build_heatmap(const Trace& trace, const HeatmapOptions& options) {
  validate_heatmap_options(options);
  Heatmap h;
  std::uint64_t pages = trace.pages;
  std::uint64_t duration = trace.duration_ns;
  for (const auto& e : trace.events) pages = std::max<std::uint64_t>(pages, std::uint64_t{e.page} + 1);
  if (!trace.events.empty()) duration = std::max(duration, trace.events.back().t_ns);
  pages = std::max<std::uint64_t>(pages, 1);

  h.pages = pages;
  h.duration_ns = duration;
  h.horizon_ns = options.horizon_ns;
  h.pages_per_group = ceil_div(pages, options.page_groups);
  h.page_groups = static_cast<unsigned>(ceil_div(pages, h.pages_per_group));
  // Whole nanoseconds per bin, and only as many bins as reach the duration, so
  // an event at exactly duration_ns lands in the last bin. That is
  // options.time_bins unless the trace is shorter than about time_bins^2 ns.
  h.bin_ns = std::max<std::uint64_t>(1, ceil_div(duration, options.time_bins));
  h.time_bins = static_cast<unsigned>(std::max<std::uint64_t>(1, ceil_div(duration, h.bin_ns)));
  const unsigned bins = h.time_bins;
  const std::size_t cells = std::size_t{h.page_groups} * bins;
  h.events.assign(cells, 0);
  h.delayed.assign(cells, 0);

  DelayCounter dc{bins, h.bin_ns, options.horizon_ns, {}};
  dc.diff.assign(std::size_t{h.page_groups} * (bins + 1), 0);
  std::vector<dpdc_page> rec(pages);  // value-initialised: all zero, as the kernel map starts

  // One pass over the events, sorted by time.
  for (const auto& e : trace.events) {
    unsigned b = dc.bin_of(e.t_ns);
    std::uint64_t g = e.page / h.pages_per_group;
    ++h.events[g * bins + b];
    dpdc_page& r = rec[e.page];
    if (r.count >= 2 && b > 0) dc.add(r, g, b - 1);  // the old record was in force up to the previous bin
    r.prev_ns = r.last_ns;  // as bpf/dirty_track.bpf.c does on a push
    r.last_ns = e.t_ns;
    ++r.count;
  }
  h.total_events = trace.events.size();
  // One pass over the pages: each final record is in force to the end.
  for (std::uint64_t p = 0; p < pages; ++p) {
    if (rec[p].count >= 2) dc.add(rec[p], p / h.pages_per_group, bins - 1);
  }
  for (unsigned g = 0; g < h.page_groups; ++g) {
    std::int64_t running = 0;
    for (unsigned b = 0; b < bins; ++b) {
      running += dc.diff[std::size_t{g} * (bins + 1) + b];
      h.delayed[std::size_t{g} * bins + b] = static_cast<std::uint32_t>(running);
    }
  }
  h.max_events = cells ? *std::max_element(h.events.begin(), h.events.end()) : 0;
  h.max_delayed = cells ? *std::max_element(h.delayed.begin(), h.delayed.end()) : 0;
  return h;
}

std::string render_svg(const Heatmap& h, const HeatmapOptions& options) {
  validate_heatmap_options(options);
  const double W = options.width, H = options.height;
  const unsigned B = h.time_bins, G = h.page_groups;
  const double ml = 84, mr = 24, mt = 56;
  const double plot_w = W - ml - mr;
  const bool side_by_side = plot_w >= 720;  // legend in one row, else two
  const double mb = side_by_side ? 104 : 168;
  const double plot_h = H - mt - mb;
  const double x0 = ml, y0 = mt;
  const double cw = B ? plot_w / B : plot_w, ch = G ? plot_h / G : plot_h;
  const std::uint64_t span_ns = std::uint64_t{B} * h.bin_ns;
  const std::uint64_t span_pages = std::uint64_t{G} * h.pages_per_group;
  auto cell_x = [&](unsigned b) { return x0 + cw * b; };
  auto cell_y = [&](unsigned g) { return y0 + ch * g; };
  // Share of the group's pages delayed at the end of the bin, in three steps:
  // 0 none, 1 under a quarter, 2 a quarter or more, 3 half or more (outlined).
  auto delay_level = [&](unsigned g, unsigned b) -> unsigned {
    if (g >= G || b >= B) return 0;
    std::uint64_t d = h.delayed_at(g, b);
    if (d == 0) return 0;
    std::uint64_t first = std::uint64_t{g} * h.pages_per_group;
    std::uint64_t in_group = first < h.pages ? std::min(h.pages_per_group, h.pages - first) : h.pages_per_group;
    if (2 * d >= in_group) return 3;
    return 4 * d >= in_group ? 2 : 1;
  };
  auto is_delayed = [&](unsigned g, unsigned b) { return delay_level(g, b) == 3; };

  std::string s;
  s.reserve(64 * 1024);
  auto add = [&s](const std::string& part) { s += part; };

  std::string title = options.title.empty() ? "Dirty pages and DPDC delays" : options.title;
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(W) + "\" height=\"" + num(H) +
      "\" viewBox=\"0 0 " + num(W) + " " + num(H) + "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n");
  add("<title>" + xml_escape(title) + "</title>\n");
  add("<defs>\n");
  // Hatches for the three delay levels: sparse, medium, dense.
  const char* hatch_size[] = {"", "10", "6", "5"};
  const char* hatch_width[] = {"", "0.8", "1.2", "1.6"};
  const char* hatch_opacity[] = {"", "0.55", "0.85", "1"};
  for (int lv = 1; lv <= 3; ++lv) {
    add(std::string("<pattern id=\"hatch") + std::to_string(lv) + "\" width=\"" + hatch_size[lv] + "\" height=\"" +
        hatch_size[lv] + "\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"" +
        hatch_size[lv] + "\" stroke=\"" + kDelayColour + "\" stroke-width=\"" + hatch_width[lv] +
        "\" stroke-opacity=\"" + hatch_opacity[lv] + "\"/></pattern>\n");
  }
  add("<linearGradient id=\"scale\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">");
  for (std::size_t i = 0; i < kPalette.size(); ++i) {
    double t = static_cast<double>(i) / (kPalette.size() - 1);
    add("<stop offset=\"" + num(t, 4) + "\" stop-color=\"" + colour_at(t) + "\"/>");
  }
  add("</linearGradient>\n</defs>\n");
  add("<rect x=\"0\" y=\"0\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" fill=\"#ffffff\"/>\n");

  // Title and what the picture covers.
  add("<text x=\"" + num(x0) + "\" y=\"22\" font-size=\"16\" font-weight=\"bold\" fill=\"#111111\">" +
      xml_escape(title) + "</text>\n");
  std::string sub = std::to_string(h.total_events) + " dirty events on " + std::to_string(h.pages) + " pages over " +
                    duration_label(h.duration_ns) + "; cell = " + std::to_string(h.pages_per_group) +
                    (h.pages_per_group == 1 ? " page x " : " pages x ") + duration_label(h.bin_ns) +
                    "; DPDC horizon " + duration_label(h.horizon_ns) + "; at most " +
                    std::to_string(h.max_delayed) + " pages delayed in one cell";
  {
    double sub_x = fit_font(sub.size(), W - x0 - 8) >= 11 ? x0 : 8;
    add("<text x=\"" + num(sub_x) + "\" y=\"42\" fill=\"#444444\" font-size=\"" +
        num(fit_font(sub.size(), W - sub_x - 8), 1) + "\">" + xml_escape(sub) + "</text>\n");
  }

  // Cells: one rect per run of equal colour within a row.
  add("<g shape-rendering=\"crispEdges\">\n");
  for (unsigned g = 0; g < G; ++g) {
    unsigned b = 0;
    while (b < B) {
      unsigned lv = level_of(h.events_at(g, b), h.max_events);
      unsigned e = b + 1;
      while (e < B && level_of(h.events_at(g, e), h.max_events) == lv) ++e;
      if (lv) {
        add("<rect x=\"" + num(cell_x(b)) + "\" y=\"" + num(cell_y(g)) + "\" width=\"" + num(cw * (e - b)) +
            "\" height=\"" + num(ch) + "\" fill=\"" + colour_at(level_colour_pos(lv)) + "\"/>\n");
      }
      b = e;
    }
  }
  add("</g>\n");

  // Delayed overlay: a hatch whose density grows with the share of the
  // group's pages delayed, and an outline around cells where it is half or more.
  add("<g>\n");
  for (unsigned g = 0; g < G; ++g) {
    unsigned b = 0;
    while (b < B) {
      unsigned lv = delay_level(g, b);
      unsigned e = b + 1;
      while (e < B && delay_level(g, e) == lv) ++e;
      if (lv) {
        add("<rect x=\"" + num(cell_x(b)) + "\" y=\"" + num(cell_y(g)) + "\" width=\"" + num(cw * (e - b)) +
            "\" height=\"" + num(ch) + "\" fill=\"url(#hatch" + std::to_string(lv) + ")\"/>\n");
      }
      b = e;
    }
  }
  std::string path;
  for (unsigned g = 0; g <= G; ++g) {  // horizontal edges between row g-1 and row g
    unsigned b = 0;
    while (b < B) {
      auto edge = [&](unsigned c) { return (g > 0 && is_delayed(g - 1, c)) != is_delayed(g, c); };
      if (!edge(b)) { ++b; continue; }
      unsigned e = b + 1;
      while (e < B && edge(e)) ++e;
      path += "M" + num(cell_x(b)) + " " + num(cell_y(g)) + "H" + num(cell_x(e));
      b = e;
    }
  }
  for (unsigned b = 0; b <= B; ++b) {  // vertical edges between column b-1 and column b
    unsigned g = 0;
    while (g < G) {
      auto edge = [&](unsigned r) { return (b > 0 && is_delayed(r, b - 1)) != is_delayed(r, b); };
      if (!edge(g)) { ++g; continue; }
      unsigned e = g + 1;
      while (e < G && edge(e)) ++e;
      path += "M" + num(cell_x(b)) + " " + num(cell_y(g)) + "V" + num(cell_y(e));
      g = e;
    }
  }
  if (!path.empty()) {
    add("<path d=\"" + path + "\" fill=\"none\" stroke=\"" + kDelayColour +
        "\" stroke-width=\"1.5\" stroke-linecap=\"square\"/>\n");
  }
  add("</g>\n");

  // Frame and axes.
  add("<rect x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(plot_w) + "\" height=\"" + num(plot_h) +
      "\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n");
  add("<g fill=\"#222222\" stroke=\"#333333\">\n");
  const double bottom = y0 + plot_h;
  {
    // Seconds, unless the whole trace is shorter than one: then ms, us or ns.
    double unit_ns = 1e9;
    const char* unit = "s";
    if (span_ns < 1'000'000'000) unit_ns = 1e6, unit = "ms";
    if (span_ns < 1'000'000) unit_ns = 1e3, unit = "us";
    if (span_ns < 1'000) unit_ns = 1, unit = "ns";
    double span_s = static_cast<double>(span_ns) / unit_ns;
    double step = nice_step(span_s / std::max(2.0, plot_w / 90));
    int dec = decimals_for(step);
    for (int i = 0;; ++i) {
      double t = i * step;
      if (t > span_s * (1 + 1e-9)) break;
      double x = x0 + (span_s > 0 ? t / span_s : 0) * plot_w;
      add("<line x1=\"" + num(x) + "\" y1=\"" + num(bottom) + "\" x2=\"" + num(x) + "\" y2=\"" + num(bottom + 5) +
          "\"/><text x=\"" + num(x) + "\" y=\"" + num(bottom + 18) + "\" text-anchor=\"middle\" stroke=\"none\">" +
          num(t, dec) + "</text>\n");
    }
    add("<text x=\"" + num(x0 + plot_w / 2) + "\" y=\"" + num(bottom + 36) +
        "\" text-anchor=\"middle\" stroke=\"none\" font-size=\"12\">time since the trace began (" +
        std::string(unit) + ")</text>\n");
  }
  {
    double span_p = static_cast<double>(span_pages);
    double step = std::max(1.0, nice_step(span_p / std::max(2.0, plot_h / 45)));
    for (int i = 0;; ++i) {
      double p = i * step;
      if (p > span_p * (1 + 1e-9)) break;
      double y = y0 + p / span_p * plot_h;
      add("<line x1=\"" + num(x0 - 5) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x0) + "\" y2=\"" + num(y) +
          "\"/><text x=\"" + num(x0 - 8) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\" stroke=\"none\">" +
          page_label(static_cast<std::uint64_t>(p)) + "</text>\n");
    }
    add("<text x=\"18\" y=\"" + num(y0 + plot_h / 2) + "\" text-anchor=\"middle\" stroke=\"none\" font-size=\"12\" "
        "transform=\"rotate(-90 18 " + num(y0 + plot_h / 2) + ")\">guest page index</text>\n");
  }
  add("</g>\n");

  // Legend: colour scale, then the delayed marker.
  {
    double ly = bottom + 56;
    double bar_w = std::min(240.0, plot_w * 0.45);
    add("<g fill=\"#222222\">\n");
    add("<text x=\"" + num(x0) + "\" y=\"" + num(ly) + "\">dirty events per cell (log scale; white: none)</text>\n");
    add("<rect x=\"" + num(x0) + "\" y=\"" + num(ly + 6) + "\" width=\"" + num(bar_w) +
        "\" height=\"10\" fill=\"url(#scale)\" stroke=\"#333333\" stroke-width=\"0.5\"/>\n");
    if (h.max_events == 0) {
      add("<text x=\"" + num(x0) + "\" y=\"" + num(ly + 30) + "\">no dirty events in this trace</text>\n");
    } else {
      double lo = scale_pos(1, h.max_events);
      auto tick_x = [&](std::uint32_t n) {
        double t = h.max_events <= 1 ? 1.0 : (scale_pos(n, h.max_events) - lo) / (1.0 - lo);
        return x0 + t * bar_w;
      };
      std::vector<std::uint32_t> ticks;
      for (std::uint64_t n = 1; n < h.max_events; n *= 10) ticks.push_back(static_cast<std::uint32_t>(n));
      double max_x = tick_x(h.max_events);
      for (std::uint32_t n : ticks) {
        if (n != 1 && max_x - tick_x(n) < 30) continue;  // would collide with the max label
        if (h.max_events > 1 && n == 1 && max_x - tick_x(n) < 16) continue;
        add("<text x=\"" + num(tick_x(n)) + "\" y=\"" + num(ly + 30) + "\" text-anchor=\"middle\">" +
            std::to_string(n) + "</text>\n");
      }
      add("<text x=\"" + num(max_x) + "\" y=\"" + num(ly + 30) + "\" text-anchor=\"middle\">" +
          std::to_string(h.max_events) + "</text>\n");
    }
    // Three swatches (one per delay level), then the explanation.
    double dx = side_by_side ? x0 + bar_w + 48 : x0;
    double dy = side_by_side ? ly - 4 : ly + 44;
    const char* swatch_label[] = {"", "&lt; 1/4", "\u2265 1/4", "\u2265 1/2"};
    for (int lv = 1; lv <= 3; ++lv) {
      double sx = dx + (lv - 1) * 40;
      add("<rect x=\"" + num(sx) + "\" y=\"" + num(dy) + "\" width=\"30\" height=\"16\" fill=\"url(#hatch" +
          std::to_string(lv) + ")\" stroke=\"" + (lv == 3 ? std::string(kDelayColour) : std::string("#999999")) +
          "\" stroke-width=\"" + (lv == 3 ? "1.5" : "0.5") + "\"/>\n");
      add("<text x=\"" + num(sx + 15) + "\" y=\"" + num(dy + 30) + "\" text-anchor=\"middle\" font-size=\"10\">" +
          swatch_label[lv] + "</text>\n");
    }
    // Beside the swatches when wide; under them, across the whole width, when narrow.
    double tx = side_by_side ? dx + 3 * 40 + 6 : 8;
    double ty = side_by_side ? dy : dy + 38;
    // Shrink the explanation's font when the picture is narrow, so it stays inside.
    const std::string line1 = "delayed by DPDC: expected to be dirtied again within the horizon (" +
                              duration_label(h.horizon_ns) + ")";
    const std::string line2 = "hatch: share of the group's pages held back at the bin's end; outlined: half or more";
    double fs = fit_font(std::max(line1.size(), line2.size()), W - tx - 8);
    add("<text x=\"" + num(tx) + "\" y=\"" + num(ty + 11) + "\" font-size=\"" + num(fs, 1) + "\">" +
        xml_escape(line1) + "</text>\n");
    add("<text x=\"" + num(tx) + "\" y=\"" + num(ty + 27) + "\" font-size=\"" + num(fs, 1) + "\" fill=\"#444444\">" +
        xml_escape(line2) + "</text>\n");
    add("</g>\n");
  }
  add("</svg>\n");
  return s;
}

void write_heatmap_svg(const Trace& trace, const HeatmapOptions& options, const std::string& out_path) {
  if (out_path.empty()) usage("no heatmap output path; pass --out FILE.svg");
  std::string svg = render_svg(build_heatmap(trace, options), options);
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) {
    usage("cannot write heatmap " + out_path + ": " + std::strerror(errno) + "; pass a writable --out path");
  }
  out.write(svg.data(), static_cast<std::streamsize>(svg.size()));
  out.close();
  if (!out) throw Error(ErrorKind::Runtime, "writing heatmap " + out_path + " failed (disk full?)");
}

}  // namespace dpdc
