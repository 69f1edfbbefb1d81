#include "tools/chaos/report.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace conclave::chaos {

namespace {

/// Windows drawn in the HTML report; the text report lists them all.
constexpr size_t max_drawn = 20;
/// Context operations added to a check's window.
constexpr size_t max_context = 40;

std::string shorten(const std::string& s, size_t n = 40) {
  return s.size() <= n ? s : s.substr(0, n - 3) + "...";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (auto c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string fixed(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

/// The fields a record sets beyond type, process, f and key.
std::string fields(const Record& r) {
  std::string s;
  auto add = [&s](const std::string& x) { s += " " + x; };
  if (r.has_value())
    add("value=\"" + shorten(r.value()) + "\"");
  if (r.has_expected())
    add("expected=\"" + shorten(r.expected()) + "\"");
  if (r.has_version())
    add("version=" + std::to_string(r.version()));
  if (r.has_token())
    add("token=" + std::to_string(r.token()));
  if (r.has_found())
    add(std::string{"found="} + (r.found() ? "true" : "false"));
  if (r.values_size() > 0)
    add("values=[" + std::to_string(r.values_size()) + "]");
  if (!r.path().empty())
    add("path=" + shorten(r.path()));
  if (!r.event_type().empty())
    add("event_type=" + r.event_type());
  if (r.zxid() != 0)
    add("zxid=" + std::to_string(r.zxid()));
  if (r.session() != 0)
    add("session=" + std::to_string(r.session()));
  if (r.plain())
    add("plain");
  if (r.recursive())
    add("recursive");
  if (!r.error().empty())
    add("error=" + r.error());
  return s;
}

std::string counts_line(const check_result& c) {
  return c.name + ": "
         + (c.ok() ? std::string{"ok"}
                   : std::to_string(c.violations.size()) + " violation(s)")
         + " (" + std::to_string(c.checked) + " checked)";
}

/// Adds to `w` the changes its events report (same zxid) and the
/// operations on the same keys that overlap it in time.
void add_context(const history& h, failure_window& w) {
  if (w.ops.empty() && w.records.empty())
    return;
  std::set<int64_t> zxids;
  for (auto pos : w.records)
    if (h.records[pos].zxid() > 0)
      zxids.insert(h.records[pos].zxid());
  for (size_t i = 0; i < h.operations.size() && !zxids.empty(); ++i) {
    const auto& op = h.operations[i];
    if (op.outcome == Record::ok && is_mutation(op.f())
        && zxids.count(op.op.zxid()) > 0
        && std::find(w.ops.begin(), w.ops.end(), i) == w.ops.end())
      w.ops.push_back(i);
  }
  std::set<std::string> keys;
  size_t from = never;
  size_t to = 0;
  for (auto id : w.ops) {
    const auto& op = h.operations[id];
    keys.insert(op.key());
    from = std::min(from, op.invoke);
    to = std::max(to, op.completed() ? op.complete : op.invoke);
  }
  for (auto pos : w.records) {
    keys.insert(h.records[pos].key());
    from = std::min(from, pos);
    to = std::max(to, pos);
  }
  std::set<size_t> have(w.ops.begin(), w.ops.end());
  size_t added = 0;
  for (size_t i = 0; i < h.operations.size() && added < max_context; ++i) {
    const auto& op = h.operations[i];
    if (have.count(i) > 0 || keys.count(op.key()) == 0 || op.invoke > to
        || (op.completed() && op.complete < from))
      continue;
    w.ops.push_back(i);
    ++added;
  }
  std::sort(w.ops.begin(), w.ops.end());
}

} // namespace

verdict findings::overall() const {
  auto result = linearizability.overall();
  for (const auto& c : checks)
    if (!c.ok())
      return verdict::violation;
  return result;
}

std::string describe_operation(const history& h, size_t id) {
  const auto& op = h.operations[id];
  std::string s = "lines " + std::to_string(h.lines[op.invoke]) + "-"
                  + (op.completed() ? std::to_string(h.lines[op.complete])
                                    : std::string{"end"})
                  + " process " + std::to_string(op.process()) + " "
                  + std::string{to_string(op.outcome)} + " " + op.f();
  if (!op.key().empty())
    s += " " + op.key();
  return s + fields(op.op);
}

std::string describe_event(const history& h, size_t pos) {
  const auto& r = h.records[pos];
  std::string s = "line " + std::to_string(h.lines[pos]) + " process "
                  + std::to_string(r.process()) + " event " + r.f();
  if (!r.key().empty())
    s += " " + r.key();
  return s + fields(r);
}

std::vector<failure_window> failure_windows(const history& h,
                                            const findings& f) {
  std::vector<failure_window> out;
  for (const auto& k : f.linearizability.keys) {
    if (k.result != verdict::violation)
      continue;
    failure_window w;
    w.title = "linearizability: " + k.key;
    w.message = k.message;
    w.ops = k.window;
    if (k.failing_op != never)
      w.focus.push_back(k.failing_op);
    out.push_back(std::move(w));
  }
  for (const auto& c : f.checks) {
    for (const auto& v : c.violations) {
      failure_window w;
      w.title = v.check + ": " + v.key;
      w.message = v.message;
      w.ops = v.ops;
      w.records = v.records;
      w.focus = v.ops;
      add_context(h, w);
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::string text_report(const history& h, const findings& f) {
  std::ostringstream out;
  out << "conclave-check " << f.source << ": " << to_string(f.overall()) << "\n"
      << h.records.size() << " records, " << h.operations.size()
      << " operations, " << h.events.size() << " events\n\n";
  // Linearizability summary.
  size_t ok = 0;
  size_t bad = 0;
  size_t unknown = 0;
  size_t ops = 0;
  uint64_t steps = 0;
  for (const auto& k : f.linearizability.keys) {
    ops += k.operations;
    steps += k.steps;
    ok += k.result == verdict::ok ? 1 : 0;
    bad += k.result == verdict::violation ? 1 : 0;
    unknown += k.result == verdict::unknown ? 1 : 0;
  }
  if (!f.linearizability.keys.empty()) {
    out << "linearizability: " << f.linearizability.keys.size() << " key(s), "
        << ops << " operations: " << ok << " ok, " << bad << " violation, "
        << unknown << " unknown (" << steps << " search steps)\n";
    for (const auto& k : f.linearizability.keys)
      if (k.result == verdict::unknown)
        out << "  unknown: key " << k.key << " (" << k.operations
            << " operations): search budget exhausted after " << k.steps
            << " steps\n";
  } else {
    out << "linearizability: no register operations\n";
  }
  for (const auto& c : f.checks) {
    if (!c.applies() && c.notes.empty())
      continue;
    out << counts_line(c) << "\n";
    for (const auto& n : c.notes)
      out << "  note: " << n << "\n";
  }
  auto windows = failure_windows(h, f);
  for (size_t i = 0; i < windows.size(); ++i) {
    const auto& w = windows[i];
    out << "\nviolation " << (i + 1) << ": " << w.title << "\n  " << w.message
        << "\n";
    for (auto id : w.ops) {
      bool focus
        = std::find(w.focus.begin(), w.focus.end(), id) != w.focus.end();
      out << (focus ? "  * " : "    ") << describe_operation(h, id) << "\n";
    }
    for (auto pos : w.records)
      out << "  * " << describe_event(h, pos) << "\n";
  }
  return out.str();
}

std::string svg_timeline(const history& h, const failure_window& w) {
  // Lanes and the x axis.
  std::set<int64_t> processes;
  for (auto id : w.ops)
    processes.insert(h.operations[id].process());
  for (auto pos : w.records)
    processes.insert(h.records[pos].process());
  std::map<int64_t, size_t> lane;
  for (auto p : processes)
    lane.emplace(p, lane.size());
  bool use_time = true;
  auto check_time
    = [&](size_t pos) { use_time = use_time && h.records[pos].time_ns() > 0; };
  for (auto id : w.ops) {
    check_time(h.operations[id].invoke);
    if (h.operations[id].completed())
      check_time(h.operations[id].complete);
  }
  for (auto pos : w.records)
    check_time(pos);
  auto at = [&](size_t pos) {
    return use_time ? static_cast<double>(h.records[pos].time_ns())
                    : static_cast<double>(pos);
  };
  double lo = 0;
  double hi = 0;
  bool first = true;
  auto extend = [&](double x) {
    lo = first ? x : std::min(lo, x);
    hi = first ? x : std::max(hi, x);
    first = false;
  };
  for (auto id : w.ops) {
    extend(at(h.operations[id].invoke));
    if (h.operations[id].completed())
      extend(at(h.operations[id].complete));
  }
  for (auto pos : w.records)
    extend(at(pos));
  if (hi <= lo)
    hi = lo + 1;
  const double label_w = 110;
  const double plot_w = 900;
  const double lane_h = 30;
  const double top = 24;
  const double open_end = label_w + plot_w + 30; // unknown completions
  auto x_of = [&](double t) { return label_w + (t - lo) / (hi - lo) * plot_w; };
  auto height = top + lane_h * static_cast<double>(lane.size()) + 44;
  auto width = open_end + 60;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << fixed(width)
    << "\" height=\"" << fixed(height) << "\" font-family=\"monospace\" "
    << "font-size=\"10\">\n";
  s << "<text x=\"4\" y=\"14\">x axis: "
    << (use_time ? "time_ns" : "record position") << "</text>\n";
  for (auto& [p, i] : lane) {
    auto y = top + lane_h * static_cast<double>(i);
    s << "<rect x=\"0\" y=\"" << fixed(y) << "\" width=\"" << fixed(width)
      << "\" height=\"" << fixed(lane_h) << "\" fill=\""
      << (i % 2 == 0 ? "#f5f5f5" : "#ffffff") << "\"/>\n"
      << "<text x=\"4\" y=\"" << fixed(y + 18) << "\">process " << p
      << "</text>\n";
  }
  std::set<size_t> focus(w.focus.begin(), w.focus.end());
  for (auto id : w.ops) {
    const auto& op = h.operations[id];
    auto y = top + lane_h * static_cast<double>(lane[op.process()]) + 4;
    auto x0 = x_of(at(op.invoke));
    auto x1 = op.completed() ? x_of(at(op.complete)) : open_end;
    auto color = op.outcome == Record::ok     ? "#66bb6a"
                 : op.outcome == Record::fail ? "#ef5350"
                                              : "#ffb300";
    bool at_fault = focus.count(id) > 0;
    s << "<g><title>" << xml_escape(describe_operation(h, id))
      << "</title><rect x=\"" << fixed(x0) << "\" y=\"" << fixed(y)
      << "\" width=\"" << fixed(std::max(3.0, x1 - x0)) << "\" height=\""
      << fixed(lane_h - 8) << "\" fill=\"" << color << "\" stroke=\""
      << (at_fault ? "#000000" : "#555555") << "\" stroke-width=\""
      << (at_fault ? "2.5" : "0.5") << "\""
      << (op.completed() ? "" : " stroke-dasharray=\"4 2\"") << "/>";
    auto label = op.f() + " " + shorten(op.key(), 16);
    if (op.op.has_value())
      label += " " + shorten(op.op.value(), 12);
    if (op.op.has_token())
      label += " t" + std::to_string(op.op.token());
    s << "<text x=\"" << fixed(x0 + 3) << "\" y=\"" << fixed(y + 14) << "\">"
      << xml_escape(label) << "</text></g>\n";
  }
  for (auto pos : w.records) {
    const auto& r = h.records[pos];
    auto x = x_of(at(pos));
    auto y = top + lane_h * static_cast<double>(lane[r.process()]) + lane_h / 2;
    s << "<g><title>" << xml_escape(describe_event(h, pos))
      << "</title><polygon points=\"" << fixed(x) << "," << fixed(y - 7) << " "
      << fixed(x + 7) << "," << fixed(y) << " " << fixed(x) << ","
      << fixed(y + 7) << " " << fixed(x - 7) << "," << fixed(y)
      << "\" fill=\"#1e88e5\" stroke=\"#000000\"/><text x=\"" << fixed(x + 9)
      << "\" y=\"" << fixed(y + 4) << "\">"
      << xml_escape(r.zxid() > 0 ? "z" + std::to_string(r.zxid()) : r.f())
      << "</text></g>\n";
  }
  auto axis_y = top + lane_h * static_cast<double>(lane.size()) + 10;
  auto stamp = [&](double t) {
    return use_time ? std::to_string(static_cast<int64_t>(t)) + " ns"
                    : "record " + std::to_string(static_cast<int64_t>(t));
  };
  s << "<text x=\"" << fixed(label_w) << "\" y=\"" << fixed(axis_y) << "\">"
    << stamp(lo) << "</text><text x=\"" << fixed(label_w + plot_w) << "\" y=\""
    << fixed(axis_y) << "\" text-anchor=\"end\">" << stamp(hi) << "</text>\n";
  auto legend_y = axis_y + 14;
  s << "<text x=\"4\" y=\"" << fixed(legend_y) << "\">"
    << "<tspan fill=\"#2e7d32\">ok</tspan> "
    << "<tspan fill=\"#c62828\">fail</tspan> "
    << "<tspan fill=\"#ef8f00\">info (unknown; dashed: never completed)"
    << "</tspan> <tspan fill=\"#1e88e5\">event</tspan>; outlined: at fault"
    << "</text>\n";
  s << "</svg>\n";
  return s.str();
}

std::string html_report(const history& h, const findings& f) {
  std::ostringstream out;
  auto v = f.overall();
  out << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
      << "<title>conclave-check " << xml_escape(f.source) << "</title>\n"
      << "<style>body{font-family:sans-serif;margin:1em}"
      << "pre{background:#f5f5f5;padding:.5em;overflow-x:auto}"
      << ".ok{color:#2e7d32}.violation{color:#c62828}"
      << ".unknown{color:#ef8f00}</style></head><body>\n"
      << "<h1>conclave-check: <span class=\"" << to_string(v) << "\">"
      << to_string(v) << "</span></h1>\n"
      << "<pre>" << xml_escape(text_report(h, f)) << "</pre>\n";
  auto windows = failure_windows(h, f);
  for (size_t i = 0; i < windows.size() && i < max_drawn; ++i) {
    const auto& w = windows[i];
    out << "<h2>violation " << (i + 1) << ": " << xml_escape(w.title)
        << "</h2>\n<p>" << xml_escape(w.message) << "</p>\n"
        << svg_timeline(h, w);
  }
  if (windows.size() > max_drawn)
    out << "<p>" << (windows.size() - max_drawn)
        << " more violations are listed above but not drawn.</p>\n";
  out << "</body></html>\n";
  return out.str();
}

bool write_report(const std::string& dir, const history& h, const findings& f,
                  std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    error = dir + ": " + ec.message();
    return false;
  }
  auto put = [&](const std::string& name, const std::string& content) {
    auto path = (fs::path{dir} / name).string();
    std::ofstream file{path, std::ios::binary | std::ios::trunc};
    file << content;
    file.flush();
    if (!file) {
      error = path + ": cannot write";
      return false;
    }
    return true;
  };
  return put("report.txt", text_report(h, f))
         && put("report.html", html_report(h, f));
}

} // namespace conclave::chaos
