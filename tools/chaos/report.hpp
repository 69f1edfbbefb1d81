// report: what conclave-check found, for people: a text report and a
// self-contained HTML page that draws each failing window as an inline SVG
// timeline (one lane per client process, a bar from invoke to completion
// colored by outcome, events as diamonds, the operations at fault outlined).
//
// A failing window is a violation's operations and events plus, for
// context, the operations on the same key that overlap them in time. The
// timeline's x axis is `time_ns` when every record drawn has one, else the
// record position (both preserve real-time order).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/chaos/checks.hpp"
#include "tools/chaos/history.hpp"
#include "tools/chaos/linearizability.hpp"

namespace conclave::chaos {

/// Everything the checkers found about one history.
struct findings {
  /// The history's name (its file), for titles.
  std::string source;
  linearizability_result linearizability;
  std::vector<check_result> checks;

  /// violation if any check found one, else unknown if a key was unknown.
  verdict overall() const;
};

/// One failing window, ready to draw.
struct failure_window {
  std::string title;
  std::string message;
  /// Operations drawn (indexes into history::operations), in invoke order.
  std::vector<size_t> ops;
  /// Event records drawn (indexes into history::records).
  std::vector<size_t> records;
  /// The operations at fault (outlined).
  std::vector<size_t> focus;
};

/// The failing windows of `f`: linearizability violations first.
std::vector<failure_window> failure_windows(const history& h,
                                            const findings& f);

/// One line describing an operation: lines, process, outcome, f, key and
/// the fields it set.
std::string describe_operation(const history& h, size_t id);

/// One line describing an event record.
std::string describe_event(const history& h, size_t pos);

/// The plain-text report: verdict, per-check summary, each violation with
/// the operations of its window.
std::string text_report(const history& h, const findings& f);

/// The SVG timeline of one window (a complete <svg> element).
std::string svg_timeline(const history& h, const failure_window& w);

/// The HTML report: the text report's content plus a timeline per window.
std::string html_report(const history& h, const findings& f);

/// Writes DIR/report.txt and DIR/report.html, creating DIR. On failure
/// returns false and sets `error`.
bool write_report(const std::string& dir, const history& h, const findings& f,
                  std::string& error);

} // namespace conclave::chaos
