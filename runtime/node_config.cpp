// node_config: see node_config.hpp and docs/configuration.md.
//
// Parsing: the text goes through CAF 0.17's own config-file parser
// (caf::detail::parser::read_ini, the engine behind
// actor_system_config::parse_config), driven with our own consumer instead of
// parse_config because parse_config has silent failure modes we must not
// inherit:
//   - an error at end of input (e.g. a group missing its closing '}') is
//     reported as success with everything inside that group dropped;
//   - repeating a group (`conclave { .. }` twice) silently drops the second
//     one, repeating a key keeps one of the values;
//   - a NUL byte ends parsing "successfully" in the middle of the text;
//   - its line/column counting is off by one after each newline.
// CAF's parser also recurses once per nesting level, so nesting is bounded
// before it runs.
// Our consumer builds the same settings tree, records key lines, merges
// re-opened groups ([caf.scheduler] + [caf.middleman]) and rejects repeated
// keys. Everything CAF accepts is then checked against the schema below.

#include "runtime/node_config.hpp"
#include "runtime/zk/four_letter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <utility>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/config_value.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/detail/parser/read_ini.hpp>
#include <caf/parser_state.hpp>
#include <caf/pec.hpp>
#include <caf/settings.hpp>

namespace conclave {

namespace {

using caf::config_value;
using dictionary = config_value::dictionary;

constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

// -- rendering of values in messages -----------------------------------------

std::string quote(std::string_view str) {
  std::string result = "\"";
  for (char c : str) {
    switch (c) {
      case '"':
        result += "\\\"";
        break;
      case '\\':
        result += "\\\\";
        break;
      case '\n':
        result += "\\n";
        break;
      case '\t':
        result += "\\t";
        break;
      case '\r':
        result += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          result += buf;
        } else {
          result += c;
        }
    }
  }
  result += '"';
  return result;
}

std::string render(const config_value& x) {
  if (auto i = caf::get_if<config_value::integer>(&x))
    return std::to_string(*i);
  if (auto b = caf::get_if<config_value::boolean>(&x))
    return *b ? "true" : "false";
  if (auto r = caf::get_if<config_value::real>(&x)) {
    std::ostringstream out;
    out.precision(15);
    out << *r;
    return out.str();
  }
  if (auto a = caf::get_if<config_value::atom>(&x))
    return "'" + caf::to_string(*a) + "'";
  if (auto s = caf::get_if<config_value::string>(&x))
    return quote(*s);
  if (auto l = caf::get_if<config_value::list>(&x)) {
    std::string result = "[";
    for (size_t i = 0; i < l->size(); ++i) {
      if (i > 0)
        result += ", ";
      result += render((*l)[i]);
    }
    return result + "]";
  }
  if (auto d = caf::get_if<dictionary>(&x)) {
    std::string result = "a group {";
    bool first = true;
    for (auto& kvp : *d) {
      result += first ? " " : ", ";
      first = false;
      result += kvp.first + " = " + render(kvp.second);
    }
    return result + " }";
  }
  return caf::deep_to_string(x); // timespan, uri
}

// Renders a value for "got ..." and keeps messages readable.
std::string got(const config_value& x) {
  auto str = render(x);
  constexpr size_t max_len = 120;
  if (str.size() > max_len)
    str = str.substr(0, max_len) + "...";
  return "got " + str;
}

std::string file_label(const std::string& file_name) {
  return file_name.empty() ? std::string{"<config>"} : file_name;
}

// -- preprocessing ------------------------------------------------------------

// Line and column (both 1-based) of byte `offset` in `text`. A newline
// belongs to the line it ends.
std::pair<int, int> position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  auto before = text.substr(0, offset);
  auto line = 1 + std::count(before.begin(), before.end(), '\n');
  auto nl = before.rfind('\n');
  auto line_start = nl == std::string_view::npos ? 0 : nl + 1;
  return {static_cast<int>(line), static_cast<int>(offset - line_start) + 1};
}

// Groups and lists may nest at most this deep; CAF's parser recurses per
// level and would overflow the stack on a few hundred thousand '['.
constexpr int max_nesting = 32;

// Turns '#' comments into ';' comments (CAF's comment character) outside of
// strings and atoms, blanks out the '\r' of CRLF line ends and a UTF-8 BOM.
// Every byte keeps its position, so error positions stay right. Rejects NUL
// bytes (CAF would stop there and report success) and too deep nesting.
std::variant<std::string, config_error> preprocess(std::string_view in,
                                                   const std::string& file) {
  std::string out{in};
  if (out.compare(0, 3, "\xEF\xBB\xBF") == 0)
    out.replace(0, 3, "   ");
  enum { normal, in_string, in_atom, in_comment } st = normal;
  int depth = 0;
  auto fail = [&](size_t offset, const char* what) {
    auto [line, column] = position(in, offset);
    return config_error{file, "", what, line, column};
  };
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c == '\0')
      return fail(i, "syntax error: unexpected NUL byte");
    switch (st) {
      case normal:
        if (c == '"') {
          st = in_string;
        } else if (c == '\'') {
          st = in_atom;
        } else if (c == ';') {
          st = in_comment;
        } else if (c == '#') {
          out[i] = ';';
          st = in_comment;
        } else if (c == '\r' && i + 1 < out.size() && out[i + 1] == '\n') {
          out[i] = ' ';
        } else if (c == '{' || c == '[') {
          if (++depth > max_nesting)
            return fail(i, "syntax error: groups and lists nest too deeply");
        } else if ((c == '}' || c == ']') && depth > 0) {
          --depth;
        }
        break;
      case in_string:
        if (c == '\\' && i + 1 < out.size() && out[i + 1] != '\n') {
          ++i;
          if (out[i] == '\0')
            return fail(i, "syntax error: unexpected NUL byte");
        } else if (c == '"' || c == '\n') {
          st = normal;
        }
        break;
      case in_atom:
        if (c == '\'' || c == '\n')
          st = normal;
        break;
      case in_comment:
        if (c == '\n')
          st = normal;
        else if (c == '\r' && i + 1 < out.size() && out[i + 1] == '\n')
          out[i] = ' ';
        break;
    }
  }
  return out;
}

// -- parsing: a consumer for caf::detail::parser::read_ini --------------------

using parse_state = caf::parser_state<const char*, const char*>;

struct parse_sink {
  const parse_state* ps = nullptr;
  std::string_view text;
  // Line of the parser's current position, advanced incrementally.
  size_t scanned = 0;
  int line = 1;

  int current_line() {
    auto offset
      = std::min(static_cast<size_t>(ps->i - text.data()), text.size());
    for (; scanned < offset; ++scanned)
      if (text[scanned] == '\n')
        ++line;
    return line;
  }

  std::string file;
  // Lines on which each full key path was written, in order.
  std::map<std::string, std::vector<int>> lines;
  std::optional<config_error> duplicate;

  void report_duplicate(const std::string& path) {
    if (duplicate)
      return;
    std::string where;
    auto i = lines.find(path);
    if (i != lines.end() && i->second.size() >= 2)
      where = " (on lines " + std::to_string(i->second[0]) + " and "
              + std::to_string(i->second[1]) + ")";
    duplicate = config_error{file, path, "set more than once" + where};
  }
};

// Merges `from` into `into`; groups merge recursively, anything else given
// twice is a duplicate.
void merge_into(parse_sink& sink, dictionary& into, dictionary&& from,
                const std::string& prefix) {
  for (auto& kvp : from) {
    auto path = prefix + kvp.first;
    auto i = into.find(kvp.first);
    if (i == into.end()) {
      into.emplace(kvp.first, std::move(kvp.second));
      continue;
    }
    auto lhs = caf::get_if<dictionary>(&i->second);
    auto rhs = caf::get_if<dictionary>(&kvp.second);
    if (lhs && rhs)
      merge_into(sink, *lhs, std::move(*rhs), path + ".");
    else
      sink.report_duplicate(path);
  }
}

// Builds a settings tree. Modes: `root` (top level), `map` (a group),
// `list`, and `forward`: CAF parses top-level `key = value` lines as a
// section named "global" that its own consumer flattens into the top level;
// a forwarding consumer does the same by passing every call to its parent.
class tree_consumer {
public:
  enum class mode { root, map, list, forward };

  tree_consumer(parse_sink* sink, tree_consumer* parent, mode m,
                std::string path)
      : sink_(sink), parent_(parent), mode_(m), path_(std::move(path)) {
    // nop
  }

  tree_consumer(tree_consumer&&) = default;
  tree_consumer(const tree_consumer&) = delete;
  tree_consumer& operator=(const tree_consumer&) = delete;

  void key(std::string name) {
    if (mode_ == mode::forward) {
      parent_->key(std::move(name));
      return;
    }
    sink_->lines[path_ + name].push_back(sink_->current_line());
    key_ = std::move(name);
  }

  template <class T>
  void value(T&& x) {
    value_impl(config_value{std::forward<T>(x)});
  }

  void value_impl(config_value&& x) {
    switch (mode_) {
      case mode::forward:
        parent_->value_impl(std::move(x));
        break;
      case mode::list:
        list_.emplace_back(std::move(x));
        break;
      case mode::root:
      case mode::map: {
        dictionary tmp;
        tmp.emplace(key_, std::move(x));
        merge_into(*sink_, dict_, std::move(tmp), path_);
        break;
      }
    }
  }

  tree_consumer begin_map() {
    if (mode_ == mode::forward)
      return parent_->begin_map();
    if (mode_ == mode::root && key_ == "global")
      return tree_consumer{sink_, this, mode::forward, path_};
    auto sub = mode_ == mode::list ? path_ + "[]." : path_ + key_ + ".";
    return tree_consumer{sink_, this, mode::map, std::move(sub)};
  }

  void end_map() {
    if (mode_ == mode::map)
      parent_->value_impl(config_value{std::move(dict_)});
  }

  tree_consumer begin_list() {
    if (mode_ == mode::forward)
      return parent_->begin_list();
    auto sub = mode_ == mode::list ? path_ + "[]" : path_ + key_;
    return tree_consumer{sink_, this, mode::list, std::move(sub)};
  }

  void end_list() { parent_->value_impl(config_value{std::move(list_)}); }

  dictionary& result() { return dict_; }

private:
  parse_sink* sink_;
  tree_consumer* parent_;
  mode mode_;
  std::string path_; // prefix for keys, e.g. "caf.scheduler."
  std::string key_;
  dictionary dict_;
  config_value::list list_;
};

std::string describe_char(char c) {
  if (c == '\n')
    return "end of line";
  if (static_cast<unsigned char>(c) < 0x20
      || static_cast<unsigned char>(c) >= 0x7f) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "byte 0x%02x",
                  static_cast<unsigned>(static_cast<unsigned char>(c)));
    return buf;
  }
  return std::string{"'"} + c + "'";
}

// Builds the error for CAF's parser stopping with `code` at byte `offset` of
// `text`. CAF's own line/column counting is off by one after newlines, so
// the position is computed from the offset.
config_error syntax_error(const std::string& file, std::string_view text,
                          caf::pec code, size_t offset) {
  auto [line, column] = position(text, offset);
  config_error err{file, "", "", line, column};
  switch (code) {
    case caf::pec::unexpected_character: {
      char c = offset < text.size() ? text[offset] : '\0';
      err.message = "syntax error: unexpected " + describe_char(c);
      if (c == '.')
        err.message += " (dotted keys are not supported in files: write "
                       "conclave { key = value } or a [conclave] section)";
      else if (c == '=' || c == '{')
        err.message += " (missing value or misplaced group?)";
      else if (c == '#' || c == ';')
        err.message += " (a comment where '= value' or a value belongs)";
      break;
    }
    case caf::pec::unexpected_newline:
      err.message = "syntax error: unexpected end of line (missing value, "
                    "unterminated string or missing ',' in a list?)";
      break;
    case caf::pec::unexpected_eof:
      err.message = "syntax error: unexpected end of file (missing '}' or "
                    "']', or unterminated string?)";
      break;
    case caf::pec::integer_overflow:
    case caf::pec::integer_underflow:
      err.message = "syntax error: integer does not fit into 64 bits";
      break;
    case caf::pec::too_many_characters:
      err.message = "syntax error: an atom ('...') has at most 10 characters; "
                    "use a \"string\"";
      break;
    case caf::pec::illegal_escape_sequence:
      err.message = "syntax error: illegal escape sequence in a string";
      break;
    case caf::pec::trailing_character:
      err.message = "syntax error: unexpected text after the value";
      break;
    default:
      err.message = "syntax error: " + caf::to_string(code);
  }
  return err;
}

std::variant<dictionary, config_error> parse_text(std::string_view raw,
                                                  const std::string& file) {
  // Byte positions in `raw` and in the preprocessed text are the same.
  auto pre = preprocess(raw, file);
  if (auto err = std::get_if<config_error>(&pre))
    return std::move(*err);
  auto& text = std::get<std::string>(pre);
  parse_sink sink;
  sink.file = file;
  parse_state ps{text.data(), text.data() + text.size()};
  sink.ps = &ps;
  sink.text = text;
  tree_consumer root{&sink, nullptr, tree_consumer::mode::root, ""};
  caf::detail::parser::read_ini(ps, root);
  if (ps.code != caf::pec::success || ps.i != ps.e)
    return syntax_error(file, raw, ps.code,
                        static_cast<size_t>(ps.i - text.data()));
  if (sink.duplicate)
    return std::move(*sink.duplicate);
  return std::move(root.result());
}

// -- schema -------------------------------------------------------------------

enum class value_kind { integer, string, host, choice, peer_list };

struct key_spec {
  std::string_view key;
  value_kind kind;
  int64_t min = 0;
  int64_t max = 0;
  std::vector<std::string_view> choices = {};
  // Setters (only the one matching `kind` is used).
  void (*set_int)(node_config&, int64_t) = nullptr;
  void (*set_str)(node_config&, std::string) = nullptr;
  // Renders the default from a default-constructed node_config.
  std::string (*get)(const node_config&) = nullptr;
  std::string_view help;
};

std::string size_text(int64_t n) {
  auto render_unit = [](int64_t v, int64_t unit, const char* name) {
    return std::to_string(v / unit) + " " + name;
  };
  constexpr int64_t k = 1024;
  if (n >= k * k * k && n % (k * k * k) == 0)
    return render_unit(n, k * k * k, "GiB");
  if (n >= k * k && n % (k * k) == 0)
    return render_unit(n, k * k, "MiB");
  if (n >= k && n % k == 0)
    return render_unit(n, k, "KiB");
  return std::to_string(n);
}

constexpr int64_t kib = 1024;
constexpr int64_t mib = 1024 * kib;
constexpr int64_t gib = 1024 * mib;

using int_setter = void (*)(node_config&, int64_t);
using str_setter = void (*)(node_config&, std::string);
using getter = std::string (*)(const node_config&);

key_spec int_key(std::string_view key, int64_t min, int64_t max, int_setter set,
                 getter get, std::string_view help) {
  return key_spec{key, value_kind::integer, min, max, {}, set, nullptr, get,
                  help};
}

key_spec str_key(std::string_view key, value_kind kind, str_setter set,
                 getter get, std::string_view help) {
  return key_spec{key, kind, 0, 0, {}, nullptr, set, get, help};
}

key_spec choice_key(std::string_view key, std::vector<std::string_view> choices,
                    str_setter set, getter get, std::string_view help) {
  return key_spec{
    key, value_kind::choice, 0, 0, std::move(choices), nullptr, set, get, help};
}

// Renders a byte count as "N" or "N (X MiB)".
std::string size_default(size_t value) {
  auto n = static_cast<int64_t>(value);
  auto str = std::to_string(n);
  auto units = size_text(n);
  return units == str ? str : str + " (" + units + ")";
}

// Setter and getter lambdas for a numeric node_config field.
#define CONCLAVE_SET(field)                                                    \
  [](node_config& c, int64_t v) { c.field = static_cast<decltype(c.field)>(v); }
#define CONCLAVE_GET(field)                                                    \
  [](const node_config& c) { return std::to_string(c.field); }
#define CONCLAVE_GET_SIZE(field)                                               \
  [](const node_config& c) { return size_default(c.field); }

const std::vector<key_spec>& schema() {
  static const std::vector<key_spec> specs = {
    int_key(
      // 254 at most: a session id carries its leader's id in its top
      // byte, and 255 marks TTL nodes (as in ZooKeeper).
      "conclave.id", 1, 254,
      [](node_config& c, int64_t v) {
        c.id = node_id{static_cast<uint64_t>(v)};
      },
      [](const node_config& c) { return std::to_string(c.id.value()); },
      "this node's id; must appear in conclave.peers if that is set"),
    str_key(
      "conclave.data-dir", value_kind::string,
      [](node_config& c, std::string v) { c.data_dir = std::move(v); },
      [](const node_config& c) { return quote(c.data_dir); },
      "directory for persistent state and the file log (created if "
      "missing; relative to the working directory)"),
    str_key(
      "conclave.bind-address", value_kind::host,
      [](node_config& c, std::string v) { c.bind_address = std::move(v); },
      [](const node_config& c) { return quote(c.bind_address); },
      "host/IP the client port binds to"),
    int_key("conclave.client-port", 0, 65535, CONCLAVE_SET(client_port),
            CONCLAVE_GET(client_port),
            "native client protocol port; 0 = pick a free port"),
    int_key("conclave.zk-port", 0, 65535, CONCLAVE_SET(zk_port),
            CONCLAVE_GET(zk_port),
            "ZooKeeper protocol port; 0 = pick a free port"),
    int_key("conclave.peer-port", 0, 65535, CONCLAVE_SET(peer_port),
            CONCLAVE_GET(peer_port), "replication port; 0 = pick a free port"),
    str_key(
      "conclave.peers", value_kind::peer_list, nullptr,
      [](const node_config&) { return std::string{"[]"}; },
      "all cluster members as \"id@host:port\" (peer ports), "
      "including this node; ids unique"),
    choice_key(
      "conclave.log-level", {"trace", "debug", "info", "warning", "error"},
      [](node_config& c, std::string v) { c.log_level = *parse_log_level(v); },
      [](const node_config& c) { return quote(to_string(c.log_level)); },
      "lowest severity that is logged"),
    int_key("conclave.log-file-max-bytes", 64 * kib, gib,
            CONCLAVE_SET(log_file_max_bytes),
            CONCLAVE_GET_SIZE(log_file_max_bytes),
            "rotate the file log in data-dir at this size"),
    int_key("conclave.log-file-count", 1, 100, CONCLAVE_SET(log_file_count),
            CONCLAVE_GET(log_file_count), "number of rotated log files kept"),
    int_key("conclave.max-data-bytes", 1, 64 * mib,
            CONCLAVE_SET(max_data_bytes), CONCLAVE_GET_SIZE(max_data_bytes),
            "largest znode payload"),
    int_key("conclave.max-path-bytes", 1, 65536, CONCLAVE_SET(max_path_bytes),
            CONCLAVE_GET(max_path_bytes), "longest znode path"),
    int_key("conclave.max-request-bytes", 2, gib,
            CONCLAVE_SET(max_request_bytes),
            CONCLAVE_GET_SIZE(max_request_bytes),
            "largest client request; must be greater than "
            "conclave.max-data-bytes"),
    int_key("conclave.max-multi-ops", 1, 100000, CONCLAVE_SET(max_multi_ops),
            CONCLAVE_GET(max_multi_ops),
            "most operations in one multi request"),
    int_key("conclave.max-pending-requests", 1, 1000000,
            CONCLAVE_SET(max_pending_requests),
            CONCLAVE_GET(max_pending_requests),
            "requests queued at a node before it answers throttled"),
    int_key("conclave.max-connections", 1, 1000000,
            CONCLAVE_SET(max_connections), CONCLAVE_GET(max_connections),
            "native client connections per node"),
    int_key("conclave.zk-max-connections-per-address", 1, 1000000,
            CONCLAVE_SET(zk_max_connections_per_address),
            CONCLAVE_GET(zk_max_connections_per_address),
            "ZooKeeper-protocol connections one client address may hold"),
    choice_key(
      "conclave.initial-cluster-state", {"new", "existing"},
      [](node_config& c, std::string v) {
        c.initial_cluster_state = std::move(v);
      },
      [](const node_config& c) { return quote(c.initial_cluster_state); },
      "with an empty data dir: \"new\" bootstraps a cluster whose voters "
      "are conclave.peers; \"existing\" joins a running cluster (added "
      "with conclavectl members add) and waits for its leader"),
    int_key("conclave.reconfig-timeout-ms", 100, 3600000,
            CONCLAVE_SET(reconfig_timeout_ms),
            CONCLAVE_GET(reconfig_timeout_ms),
            "a membership change waits this long for a new member to catch "
            "up and for each step to commit"),
    choice_key(
      "conclave.admin-server", {"on", "off"},
      [](node_config& c, std::string v) { c.admin_server = std::move(v); },
      [](const node_config& c) { return quote(c.admin_server); },
      "\"on\": serve GET /metrics and GET /status on the admin port"),
    str_key(
      "conclave.admin-address", value_kind::host,
      [](node_config& c, std::string v) { c.admin_address = std::move(v); },
      [](const node_config& c) { return quote(c.admin_address); },
      "host/IP the admin port binds to"),
    int_key("conclave.admin-port", 0, 65535, CONCLAVE_SET(admin_port),
            CONCLAVE_GET(admin_port),
            "admin HTTP port (/metrics, /status); 0 = pick a free port"),
    int_key("conclave.max-auth-ids", 1, 1024, CONCLAVE_SET(max_auth_ids),
            CONCLAVE_GET(max_auth_ids),
            "identities one client connection may prove (addauth)"),
    int_key("conclave.container-check-interval-ms", 100, 86400000,
            CONCLAVE_SET(container_check_interval_ms),
            CONCLAVE_GET(container_check_interval_ms),
            "how often the leader deletes empty containers and expired TTL "
            "nodes"),
    int_key("conclave.container-max-per-minute", 1, 1000000,
            CONCLAVE_SET(container_max_per_minute),
            CONCLAVE_GET(container_max_per_minute),
            "most container and TTL node deletes per minute"),
    str_key(
      "conclave.four-letter-words", value_kind::string,
      [](node_config& c, std::string v) { c.four_letter_words = std::move(v); },
      [](const node_config& c) { return quote(c.four_letter_words); },
      "four-letter words answered on zk-port: \"*\" or a list such as "
      "\"srvr, ruok, mntr\" (ZooKeeper's default: \"srvr\")"),
    int_key("conclave.min-session-timeout-ms", 100, 3600000,
            CONCLAVE_SET(min_session_timeout_ms),
            CONCLAVE_GET(min_session_timeout_ms),
            "shortest session timeout; shorter requests are raised to it"),
    int_key("conclave.max-session-timeout-ms", 100, 3600000,
            CONCLAVE_SET(max_session_timeout_ms),
            CONCLAVE_GET(max_session_timeout_ms),
            "longest session timeout; longer requests are lowered to it"),
    int_key("conclave.max-sessions", 1, 10000000, CONCLAVE_SET(max_sessions),
            CONCLAVE_GET(max_sessions),
            "sessions the cluster holds at once; more opens are throttled"),
    int_key("conclave.max-watches-per-session", 1, 100000000,
            CONCLAVE_SET(max_watches_per_session),
            CONCLAVE_GET(max_watches_per_session),
            "watches one session may hold on the node it is connected to"),
    int_key("conclave.max-watches", 1, 1000000000, CONCLAVE_SET(max_watches),
            CONCLAVE_GET(max_watches),
            "watches all sessions may hold on one node"),
    int_key("conclave.tick-ms", 1, 10000, CONCLAVE_SET(tick_ms),
            CONCLAVE_GET(tick_ms),
            "period of the Raft clock; timeouts are whole ticks"),
    int_key(
      "conclave.preferred-leader", 0, 254,
      [](node_config& c, int64_t v) {
        c.preferred_leader = node_id{static_cast<uint64_t>(v)};
      },
      [](const node_config& c) {
        return std::to_string(c.preferred_leader.value());
      },
      "node that should lead whenever it is reachable and caught up; 0 = "
      "none; must be in conclave.peers"),
    int_key("conclave.leader-max-persist-ms", 0, 600000,
            CONCLAVE_SET(leader_max_persist_ms),
            CONCLAVE_GET(leader_max_persist_ms),
            "a leader whose durable writes take longer than this (recent "
            "mean) hands over to a healthy follower; 0 = never"),
    int_key("conclave.leader-max-apply-lag", 0, 1000000000,
            CONCLAVE_SET(leader_max_apply_lag),
            CONCLAVE_GET(leader_max_apply_lag),
            "a leader whose tree trails its commit index by more entries "
            "than this, twice in a row, hands over; 0 = never"),
    choice_key(
      "conclave.fault-injection", {"off", "on"},
      [](node_config& c, std::string v) { c.fault_injection = std::move(v); },
      [](const node_config& c) { return quote(c.fault_injection); },
      "\"on\": accept `conclavectl fault ACTOR KIND` (tests and chaos runs "
      "only; never in production)"),
    int_key("conclave.supervisor-max-restarts", 0, 1000,
            CONCLAVE_SET(supervisor_max_restarts),
            CONCLAVE_GET(supervisor_max_restarts),
            "restarts of the node's actors allowed within "
            "supervisor-restart-window-ms; one more shuts the node down"),
    int_key("conclave.supervisor-restart-window-ms", 1, 86400000,
            CONCLAVE_SET(supervisor_restart_window_ms),
            CONCLAVE_GET(supervisor_restart_window_ms),
            "the window of the restart budget"),
    int_key("conclave.supervisor-probe-interval-ms", 10, 600000,
            CONCLAVE_SET(supervisor_probe_interval_ms),
            CONCLAVE_GET(supervisor_probe_interval_ms),
            "how often the supervisor asks each actor whether it is alive"),
    int_key("conclave.supervisor-hang-timeout-ms", 10, 3600000,
            CONCLAVE_SET(supervisor_hang_timeout_ms),
            CONCLAVE_GET(supervisor_hang_timeout_ms),
            "an actor that does not answer a probe for this long is hung: "
            "the supervisor restarts it"),
    int_key("conclave.fault-fsync-delay-ms", 0, 600000,
            CONCLAVE_SET(fault_fsync_delay_ms),
            CONCLAVE_GET(fault_fsync_delay_ms),
            "fault injection for tests: delay every durable write this "
            "long; 0 (the default) in production"),
    int_key("conclave.election-timeout-ms", 2, 600000,
            CONCLAVE_SET(election_timeout_ms),
            CONCLAVE_GET(election_timeout_ms),
            "a follower that hears no leader for a random time in [this, 2 "
            "x this) starts an election; at least 2 ticks"),
    int_key("conclave.heartbeat-interval-ms", 1, 600000,
            CONCLAVE_SET(heartbeat_interval_ms),
            CONCLAVE_GET(heartbeat_interval_ms),
            "leader heartbeat period; less than the election timeout"),
    int_key("conclave.request-timeout-ms", 10, 3600000,
            CONCLAVE_SET(request_timeout_ms), CONCLAVE_GET(request_timeout_ms),
            "writes not applied within this time answer OperationTimeout"),
    int_key("conclave.snapshot-entries", 1, int64_max,
            CONCLAVE_SET(snapshot_entries), CONCLAVE_GET(snapshot_entries),
            "take a snapshot after this many log entries"),
    int_key("conclave.snapshot-log-bytes", 4 * kib, 1024 * gib,
            CONCLAVE_SET(snapshot_log_bytes),
            CONCLAVE_GET_SIZE(snapshot_log_bytes),
            "... or after this many bytes of log"),
    int_key("conclave.snapshot-keep", 1, 100, CONCLAVE_SET(snapshot_keep),
            CONCLAVE_GET(snapshot_keep), "snapshots kept on disk"),
    int_key("conclave.log-segment-bytes", 64 * kib, gib,
            CONCLAVE_SET(log_segment_bytes),
            CONCLAVE_GET_SIZE(log_segment_bytes),
            "roll log segment files at this size"),
    int_key("conclave.max-append-bytes", 1 * kib, gib,
            CONCLAVE_SET(max_append_bytes), CONCLAVE_GET_SIZE(max_append_bytes),
            "entry bytes in one AppendEntries message"),
    int_key("conclave.max-inflight-appends", 1, 1024,
            CONCLAVE_SET(max_inflight_appends),
            CONCLAVE_GET(max_inflight_appends),
            "unacknowledged AppendEntries per follower (pipelining)"),
    choice_key(
      "caf.scheduler.policy", {"stealing", "sharing"},
      [](node_config& c, std::string v) { c.scheduler_policy = std::move(v); },
      [](const node_config&) {
        return std::string{"CAF default ('stealing')"};
      },
      "CAF scheduler: work stealing or one shared queue"),
    int_key(
      "caf.scheduler.max-threads", 1, 1024, CONCLAVE_SET(scheduler_max_threads),
      [](const node_config&) {
        return std::string{"CAF default (max(4, number of cores))"};
      },
      "CAF scheduler worker threads"),
    int_key(
      "caf.middleman.workers", 0, 64, CONCLAVE_SET(middleman_workers),
      [](const node_config&) { return std::string{"CAF default"}; },
      "CAF network deserialization threads; 0 = none (the I/O thread "
      "does it)"),
  };
  return specs;
}

#undef CONCLAVE_SET
#undef CONCLAVE_GET
#undef CONCLAVE_GET_SIZE

const key_spec* find_spec(std::string_view key) {
  for (auto& spec : schema())
    if (spec.key == key)
      return &spec;
  return nullptr;
}

bool is_group(std::string_view path) {
  return path == "conclave" || path == "caf" || path == "caf.scheduler"
         || path == "caf.middleman";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      auto subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknown_key_message(std::string_view path) {
  std::string msg = "unknown key";
  std::string normalized{path};
  std::replace(normalized.begin(), normalized.end(), '_', '-');
  const key_spec* best = nullptr;
  size_t best_dist = 3; // suggest only close matches
  for (auto& spec : schema()) {
    auto dist = edit_distance(normalized, spec.key);
    if (dist < best_dist) {
      best = &spec;
      best_dist = dist;
    }
  }
  if (best)
    msg += " (did you mean " + std::string{best->key} + "?)";
  else if (path.compare(0, 4, "caf.") == 0)
    msg += " (only caf.scheduler.policy, caf.scheduler.max-threads and "
           "caf.middleman.workers may be set)";
  else if (path.find('.') == std::string_view::npos)
    msg += " (settings belong in the conclave or caf group)";
  return msg;
}

// -- validation ---------------------------------------------------------------

struct entry {
  config_value value;
  std::string origin; // file name or "<command line>"
};

using entry_map = std::map<std::string, entry, std::less<>>;

bool valid_actor_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

// The `actors` group: each entry is a custom actor instance with a type and
// settings of its own (checked later by its type, see custom_actor.hpp).
std::optional<config_error> read_actors(const config_value& value,
                                        const std::string& file,
                                        std::vector<custom_actor_config>& out) {
  auto dict = caf::get_if<dictionary>(&value);
  if (!dict)
    return config_error{file, "actors",
                        "expected a group actors { NAME { type = \"...\" } "
                        "}, "
                          + got(value)};
  for (auto& [name, body] : *dict) {
    auto path = "actors." + name;
    if (!valid_actor_name(name))
      return config_error{file, path,
                          "expected an actor name of letters, digits, '-' and "
                          "'_' (at most 64)"};
    for (auto reserved : {"registry", "storage", "log", "election", "session",
                          "zk", "admin", "supervisor"})
      if (name == reserved)
        return config_error{file, path,
                            "'" + name
                              + "' names one of the node's own actors; choose "
                                "another name"};
    auto group = caf::get_if<dictionary>(&body);
    if (!group)
      return config_error{file, path,
                          "expected a group " + path
                            + " { type = \"...\" ... }, " + got(body)};
    custom_actor_config actor;
    actor.name = name;
    auto type = group->find("type");
    if (type == group->end())
      return config_error{file, path + ".type",
                          "missing: every custom actor needs a type"};
    auto type_name = caf::get_if<std::string>(&type->second);
    if (!type_name || type_name->empty())
      return config_error{file, path + ".type",
                          "expected a type name, " + got(type->second)};
    actor.type = *type_name;
    for (auto& [key, v] : *group)
      if (key != "type")
        actor.settings.emplace(key, v);
    out.push_back(std::move(actor));
  }
  return std::nullopt;
}

std::optional<config_error> flatten(const dictionary& dict,
                                    const std::string& prefix,
                                    const std::string& file, entry_map& out,
                                    std::vector<custom_actor_config>* actors) {
  for (auto& kvp : dict) {
    auto path = prefix.empty() ? kvp.first : prefix + "." + kvp.first;
    auto sub = caf::get_if<dictionary>(&kvp.second);
    if (prefix.empty() && path == "actors" && actors) {
      if (auto err = read_actors(kvp.second, file, *actors))
        return err;
      continue;
    }
    if (is_group(path)) {
      if (!sub)
        return config_error{file, path,
                            "expected a group " + path + " { ... }, "
                              + got(kvp.second)};
      if (auto err = flatten(*sub, path, file, out, nullptr))
        return err;
    } else if (find_spec(path)) {
      out[path] = entry{kvp.second, file}; // type checked later
    } else if (sub && prefix.empty()) {
      return config_error{file, path,
                          "unknown group (the only groups are conclave, caf "
                          "and actors)"};
    } else if (sub) {
      return config_error{file, path, "unknown group"};
    } else {
      return config_error{file, path, unknown_key_message(path)};
    }
  }
  return std::nullopt;
}

bool valid_host_chars(std::string_view host, bool allow_colon) {
  if (host.empty())
    return false;
  for (char c : host) {
    auto ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.'
              || c == '-' || c == '_'
              || (allow_colon && (c == ':' || c == '%'));
    if (!ok)
      return false;
  }
  return true;
}

// Parses an unsigned decimal number without sign or spaces.
std::optional<uint64_t> parse_decimal(std::string_view str) {
  if (str.empty() || str.size() > 19)
    return std::nullopt;
  uint64_t result = 0;
  for (char c : str) {
    if (c < '0' || c > '9')
      return std::nullopt;
    result = result * 10 + static_cast<uint64_t>(c - '0');
  }
  return result;
}

std::optional<config_error> validate_peers(const entry& e, node_config& cfg) {
  auto key = std::string{"conclave.peers"};
  constexpr const char* expected = "expected a list of \"id@host:port\" "
                                   "strings";
  auto xs = caf::get_if<config_value::list>(&e.value);
  if (!xs)
    return config_error{e.origin, key,
                        std::string{expected}
                          + " such as "
                            "[\"1@127.0.0.1:4281\"], "
                          + got(e.value)};
  std::vector<peer_address> peers;
  for (size_t i = 0; i < xs->size(); ++i) {
    auto pos = "entry " + std::to_string(i + 1) + ": ";
    auto str = caf::get_if<std::string>(&(*xs)[i]);
    if (!str)
      return config_error{e.origin, key,
                          pos + "expected a string \"id@host:port\", "
                            + got((*xs)[i])};
    auto parsed = parse_peer(*str);
    if (auto why = std::get_if<std::string>(&parsed))
      return config_error{e.origin, key,
                          pos + "expected \"id@host:port\" (" + *why + "), "
                            + got((*xs)[i])};
    auto& peer = std::get<peer_address>(parsed);
    for (size_t j = 0; j < peers.size(); ++j) {
      auto other
        = "entries " + std::to_string(j + 1) + " and " + std::to_string(i + 1);
      if (peers[j].id == peer.id)
        return config_error{e.origin, key,
                            "expected unique ids, got id "
                              + std::to_string(peer.id.value()) + " twice ("
                              + other + ")"};
      if (peers[j].host == peer.host && peers[j].port == peer.port)
        return config_error{e.origin, key,
                            "expected distinct addresses, got " + quote(*str)
                              + " twice (" + other + ")"};
    }
    peers.push_back(std::move(peer));
  }
  cfg.peers = std::move(peers);
  return std::nullopt;
}

std::optional<config_error> validate(const key_spec& spec, const entry& e,
                                     node_config& cfg) {
  std::string key{spec.key};
  switch (spec.kind) {
    case value_kind::integer: {
      auto expected = "expected an integer in " + std::to_string(spec.min)
                      + ".." + std::to_string(spec.max);
      if (spec.max == int64_max)
        expected = "expected an integer >= " + std::to_string(spec.min);
      auto i = caf::get_if<config_value::integer>(&e.value);
      if (!i || *i < spec.min || *i > spec.max)
        return config_error{e.origin, key, expected + ", " + got(e.value)};
      spec.set_int(cfg, *i);
      return std::nullopt;
    }
    case value_kind::string:
    case value_kind::host: {
      auto s = caf::get_if<std::string>(&e.value);
      if (!s || s->empty())
        return config_error{e.origin, key,
                            "expected a non-empty string in double quotes, "
                              + got(e.value)};
      if (spec.kind == value_kind::host) {
        std::string_view host = *s;
        if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
          host = host.substr(1, host.size() - 2);
        if (!valid_host_chars(host, true))
          return config_error{e.origin, key,
                              "expected a host name or IP address, "
                                + got(e.value)};
        spec.set_str(cfg, std::string{host});
        return std::nullopt;
      }
      spec.set_str(cfg, *s);
      return std::nullopt;
    }
    case value_kind::choice: {
      std::string str;
      if (auto s = caf::get_if<std::string>(&e.value))
        str = *s;
      else if (auto a = caf::get_if<config_value::atom>(&e.value))
        str = caf::to_string(*a);
      auto hit = std::find(spec.choices.begin(), spec.choices.end(), str);
      if (hit == spec.choices.end() || str.empty()) {
        std::string expected = "expected one of ";
        for (size_t i = 0; i < spec.choices.size(); ++i) {
          if (i > 0)
            expected += ", ";
          expected += quote(spec.choices[i]);
        }
        return config_error{e.origin, key, expected + ", " + got(e.value)};
      }
      spec.set_str(cfg, str);
      return std::nullopt;
    }
    case value_kind::peer_list:
      return validate_peers(e, cfg);
  }
  return std::nullopt;
}

// Converts a command-line value to a config_value for `spec`. Values that do
// not parse are kept as strings, so validation reports them as given.
config_value parse_override_value(const key_spec& spec, std::string_view raw) {
  auto as_string = [&] { return config_value{std::string{raw}}; };
  // Bound CAF's recursion as for files (see max_nesting).
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    auto c = raw[i];
    if (quoted && c == '\\')
      ++i;
    else if (c == '"')
      quoted = !quoted;
    else if (!quoted && (c == '[' || c == '{') && ++depth > max_nesting)
      return as_string();
    else if (!quoted && (c == ']' || c == '}') && depth > 0)
      --depth;
  }
  switch (spec.kind) {
    case value_kind::string:
    case value_kind::host:
    case value_kind::choice:
      if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
        if (auto x
            = config_value::parse(caf::string_view{raw.data(), raw.size()}))
          return std::move(*x);
      }
      return as_string();
    case value_kind::integer:
    case value_kind::peer_list:
      if (auto x
          = config_value::parse(caf::string_view{raw.data(), raw.size()}))
        return std::move(*x);
      return as_string();
  }
  return as_string();
}

const std::string command_line{command_line_origin};

std::optional<config_error> apply_override(std::string_view arg,
                                           entry_map& entries) {
  if (arg.compare(0, 2, "--") == 0)
    arg.remove_prefix(2);
  auto eq = arg.find('=');
  auto key = arg.substr(0, eq);
  auto spec = find_spec(key);
  if (!spec) {
    auto msg = is_group(key) ? std::string{"not a single key; set its keys "
                                           "one by one"}
                             : unknown_key_message(key);
    return config_error{command_line, std::string{key}, msg};
  }
  if (eq == std::string_view::npos)
    return config_error{command_line, std::string{key},
                        "expected --" + std::string{key} + "=VALUE"};
  auto raw = arg.substr(eq + 1);
  entries[std::string{key}]
    = entry{parse_override_value(*spec, raw), command_line};
  return std::nullopt;
}

} // namespace

std::variant<peer_address, std::string> parse_peer(std::string_view str) {
  auto at = str.find('@');
  if (at == std::string_view::npos)
    return std::string{"missing '@' between id and host"};
  auto id = parse_decimal(str.substr(0, at));
  if (!id || *id < 1 || *id > 254)
    return std::string{"the id must be an integer in 1..254"};
  auto rest = str.substr(at + 1);
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos)
    return std::string{"missing ':' before the port"};
  auto host = rest.substr(0, colon);
  auto port_str = rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!valid_host_chars(host, true))
      return std::string{"malformed IPv6 address"};
  } else if (host.empty()) {
    return std::string{"the host must not be empty"};
  } else if (host.find(':') != std::string_view::npos) {
    return std::string{"write IPv6 addresses in brackets, e.g. 1@[::1]:4281"};
  } else if (!valid_host_chars(host, false)) {
    return std::string{"the host may contain only letters, digits, '.', '-' "
                       "and '_'"};
  }
  auto port = port_str.size() <= 5 ? parse_decimal(port_str) : std::nullopt;
  if (!port || *port < 1 || *port > 65535)
    return std::string{"the port must be an integer in 1..65535"};
  return peer_address{node_id{*id}, std::string{host},
                      static_cast<uint16_t>(*port)};
}

// -- public API ---------------------------------------------------------------

std::string to_string(log_level x) {
  switch (x) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warning:
      return "warning";
    case log_level::error:
      return "error";
  }
  return "info";
}

std::optional<log_level> parse_log_level(std::string_view str) {
  for (auto x : {log_level::trace, log_level::debug, log_level::info,
                 log_level::warning, log_level::error})
    if (str == to_string(x))
      return x;
  return std::nullopt;
}

bool operator==(const peer_address& a, const peer_address& b) {
  return a.id == b.id && a.host == b.host && a.port == b.port;
}

bool operator!=(const peer_address& a, const peer_address& b) {
  return !(a == b);
}

std::string to_string(const peer_address& x) {
  auto host
    = x.host.find(':') != std::string::npos ? "[" + x.host + "]" : x.host;
  return std::to_string(x.id.value()) + "@" + host + ":"
         + std::to_string(x.port);
}

std::string config_error::to_string() const {
  std::string result = file.empty() ? std::string{"<config>"} : file;
  if (line > 0)
    result += ":" + std::to_string(line) + ":" + std::to_string(column);
  result += ": ";
  if (!key.empty())
    result += key + ": ";
  result += message;
  return result;
}

/// Checks the timing keys against each other; names the key at fault.
template <class OriginOf>
std::optional<config_error> check_timing(const node_config& cfg,
                                         OriginOf origin_of,
                                         const std::string& default_origin) {
  auto fail = [&](std::string_view key, std::string msg) {
    auto origin = origin_of(key);
    return config_error{origin ? *origin : default_origin, std::string{key},
                        std::move(msg)};
  };
  if (cfg.election_timeout_ms < 2 * cfg.tick_ms)
    return fail("conclave.election-timeout-ms",
                "expected at least two ticks (2 x conclave.tick-ms = "
                  + std::to_string(2 * cfg.tick_ms) + "), got "
                  + std::to_string(cfg.election_timeout_ms));
  if (cfg.heartbeat_interval_ms < cfg.tick_ms)
    return fail("conclave.heartbeat-interval-ms",
                "expected at least one tick (conclave.tick-ms = "
                  + std::to_string(cfg.tick_ms) + "), got "
                  + std::to_string(cfg.heartbeat_interval_ms));
  if (cfg.heartbeat_interval_ms >= cfg.election_timeout_ms)
    return fail("conclave.heartbeat-interval-ms",
                "expected less than conclave.election-timeout-ms ("
                  + std::to_string(cfg.election_timeout_ms) + "), got "
                  + std::to_string(cfg.heartbeat_interval_ms));
  std::string bad_word;
  if (!zk::four_letter_whitelist::parse(cfg.four_letter_words, &bad_word))
    return fail("conclave.four-letter-words",
                "unknown four-letter word '" + bad_word
                  + "' (known: ruok, srvr, stat, mntr, conf, cons, wchs, "
                    "dirs, isro, envi, or *)");
  if (cfg.max_session_timeout_ms < cfg.min_session_timeout_ms)
    return fail("conclave.max-session-timeout-ms",
                "expected at least conclave.min-session-timeout-ms ("
                  + std::to_string(cfg.min_session_timeout_ms) + "), got "
                  + std::to_string(cfg.max_session_timeout_ms));
  if (auto p = cfg.preferred_leader;
      p.value() != 0 && !cfg.peers.empty()
      && std::none_of(cfg.peers.begin(), cfg.peers.end(),
                      [p](const auto& peer) { return peer.id == p; }))
    return fail("conclave.preferred-leader",
                "expected the id of a member in conclave.peers, got "
                  + std::to_string(p.value()));
  if (cfg.min_session_timeout_ms < 2 * cfg.heartbeat_interval_ms)
    return fail("conclave.min-session-timeout-ms",
                "expected at least two heartbeats (2 x "
                "conclave.heartbeat-interval-ms = "
                  + std::to_string(2 * cfg.heartbeat_interval_ms) + "), got "
                  + std::to_string(cfg.min_session_timeout_ms));
  return std::nullopt;
}

std::variant<node_config, config_error>
parse_node_config(std::string_view text, std::string file_name,
                  const std::vector<std::string>& overrides) {
  try {
    auto file = file_label(file_name);
    entry_map entries;
    auto tree = parse_text(text, file);
    if (auto err = std::get_if<config_error>(&tree))
      return std::move(*err);
    std::vector<custom_actor_config> actors;
    if (auto err
        = flatten(std::get<dictionary>(tree), "", file, entries, &actors))
      return std::move(*err);
    for (auto& arg : overrides)
      if (auto err = apply_override(arg, entries))
        return std::move(*err);
    node_config cfg;
    cfg.source_file = file_name;
    cfg.actors = std::move(actors);
    for (auto& spec : schema()) {
      auto i = entries.find(spec.key);
      if (i != entries.end())
        if (auto err = validate(spec, i->second, cfg))
          return std::move(*err);
    }
    // Cross-key checks name a key that was set explicitly.
    auto origin_of = [&](std::string_view key) -> const std::string* {
      auto i = entries.find(key);
      return i != entries.end() ? &i->second.origin : nullptr;
    };
    auto default_origin = file_name.empty() ? command_line : file;
    if (cfg.max_request_bytes <= cfg.max_data_bytes) {
      auto req = std::to_string(cfg.max_request_bytes);
      auto data = std::to_string(cfg.max_data_bytes);
      if (auto origin = origin_of("conclave.max-request-bytes"))
        return config_error{*origin, "conclave.max-request-bytes",
                            "expected a value greater than "
                            "conclave.max-data-bytes ("
                              + data + "), got " + req};
      auto origin = origin_of("conclave.max-data-bytes");
      return config_error{origin ? *origin : default_origin,
                          "conclave.max-data-bytes",
                          "expected a value less than "
                          "conclave.max-request-bytes ("
                            + req + "), got " + data};
    }
    if (auto err = check_timing(cfg, origin_of, default_origin))
      return std::move(*err);
    if (!cfg.peers.empty()) {
      auto self
        = std::find_if(cfg.peers.begin(), cfg.peers.end(),
                       [&](const peer_address& p) { return p.id == cfg.id; });
      if (self == cfg.peers.end()) {
        auto origin = origin_of("conclave.peers");
        return config_error{origin ? *origin : default_origin, "conclave.peers",
                            "expected an entry for this node's id "
                              + std::to_string(cfg.id.value())
                              + " (conclave.id), "
                              + got(entries.at("conclave.peers").value)};
      }
    }
    return cfg;
  } catch (const std::exception& ex) {
    return config_error{file_label(file_name), "",
                        std::string{"internal error: "} + ex.what()};
  }
}

namespace {

// Reads a whole (small) file into `content`; returns an error text (with
// strerror) on failure.
std::optional<std::string> read_file(const std::string& path,
                                     std::string& content) {
  constexpr size_t max_size = 1024 * 1024;
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    return std::string{"cannot open config file: "} + std::strerror(errno);
  char buf[4096];
  for (;;) {
    auto n = std::fread(buf, 1, sizeof(buf), f);
    content.append(buf, n);
    if (content.size() > max_size) {
      std::fclose(f);
      return std::string{"config file is larger than 1 MiB"};
    }
    if (n < sizeof(buf)) {
      if (std::ferror(f)) {
        auto err = errno;
        std::fclose(f);
        return std::string{"cannot read config file: "} + std::strerror(err);
      }
      break;
    }
  }
  std::fclose(f);
  return std::nullopt;
}

} // namespace

std::variant<node_config, config_error>
load_node_config(int argc, const char* const* argv) {
  try {
    std::optional<std::string> config_file;
    std::vector<std::string> overrides;
    auto set_file = [&](std::string name) -> std::optional<config_error> {
      if (config_file)
        return config_error{command_line, "",
                            "--config-file given more than once"};
      if (name.empty())
        return config_error{command_line, "",
                            "--config-file expects a file name"};
      config_file = std::move(name);
      return std::nullopt;
    };
    for (int i = 1; i < argc; ++i) {
      if (argv == nullptr || argv[i] == nullptr)
        continue;
      std::string_view arg = argv[i];
      if (arg.compare(0, 14, "--config-file=") == 0) {
        if (auto err = set_file(std::string{arg.substr(14)}))
          return std::move(*err);
      } else if (arg == "--config-file") {
        if (i + 1 >= argc || argv[i + 1] == nullptr)
          return config_error{command_line, "",
                              "--config-file expects a file name"};
        if (auto err = set_file(argv[++i]))
          return std::move(*err);
      } else if (arg.compare(0, 11, "--conclave.") == 0
                 || arg.compare(0, 6, "--caf.") == 0) {
        overrides.emplace_back(arg);
      } else {
        return config_error{command_line, "",
                            "unknown argument " + quote(arg) + " (see --help)"};
      }
    }
    if (!config_file)
      return parse_node_config("", "", overrides);
    std::string content;
    if (auto err = read_file(*config_file, content))
      return config_error{*config_file, "", std::move(*err)};
    return parse_node_config(content, *config_file, overrides);
  } catch (const std::exception& ex) {
    return config_error{command_line, "",
                        std::string{"internal error: "} + ex.what()};
  }
}

std::string node_config_help() {
  std::string out;
  out += "Usage: conclave-node [--config-file=FILE] [--conclave.KEY=VALUE]... "
         "[--caf.KEY=VALUE]...\n"
         "\n"
         "Options:\n"
         "  -h, --help              print this text and exit\n"
         "  --config-file=FILE      read settings from FILE (CAF config "
         "syntax;\n"
         "                          '#' and ';' start comments); also "
         "--config-file FILE\n"
         "  --conclave.KEY=VALUE    set a key, overriding the file; strings "
         "need no\n"
         "                          quotes, lists use CAF syntax, e.g.\n"
         "                          --conclave.peers='[\"1@127.0.0.1:4281\"]'\n"
         "  --caf.KEY=VALUE         set one of the caf.* keys below\n"
         "\n"
         "Keys (default; allowed values; meaning):\n";
  node_config defaults;
  for (auto& spec : schema()) {
    std::string allowed;
    switch (spec.kind) {
      case value_kind::integer:
        allowed = spec.max == int64_max
                    ? "integer >= " + std::to_string(spec.min)
                    : "integer " + std::to_string(spec.min) + ".."
                        + std::to_string(spec.max);
        if (spec.max >= mib
            && spec.key.find("bytes") != std::string_view::npos) {
          if (size_text(spec.min) != std::to_string(spec.min))
            allowed
              += " (" + size_text(spec.min) + ".." + size_text(spec.max) + ")";
          else
            allowed += " (max " + size_text(spec.max) + ")";
        }
        break;
      case value_kind::string:
        allowed = "non-empty string";
        break;
      case value_kind::host:
        allowed = "host name or IP address";
        break;
      case value_kind::choice:
        for (size_t i = 0; i < spec.choices.size(); ++i)
          allowed += (i > 0 ? " | " : "") + quote(spec.choices[i]);
        break;
      case value_kind::peer_list:
        allowed = "list of \"id@host:port\"";
        break;
    }
    out += "  ";
    out += spec.key;
    out += "\n      default: " + spec.get(defaults) + "; " + allowed
           + "\n      " + std::string{spec.help} + "\n";
  }
  out += "\nErrors in the configuration are printed as "
         "FILE: KEY: MESSAGE; the node then exits with code 2.\n";
  return out;
}

std::optional<config_error> check_data_dir(const node_config& cfg) {
  namespace fs = std::filesystem;
  auto file = cfg.source_file.empty() ? command_line : cfg.source_file;
  std::string key = "conclave.data-dir";
  auto fail = [&](const std::string& what, int err) {
    return config_error{
      file, key, what + " " + quote(cfg.data_dir) + ": " + std::strerror(err)};
  };
  if (cfg.data_dir.empty())
    return config_error{file, key, "expected a non-empty directory name"};
  try {
    std::error_code ec;
    fs::path dir{cfg.data_dir};
    fs::create_directories(dir, ec);
    if (ec)
      return fail("cannot create directory", ec.value());
    if (!fs::is_directory(dir, ec))
      return fail("not a directory:", ec ? ec.value() : ENOTDIR);
    auto probe = (dir
                  / (".conclave-write-probe-"
                     + std::to_string(static_cast<long>(::getpid()))))
                   .string();
    int fd
      = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      return fail("cannot write to directory", errno);
    bool ok = ::write(fd, "x", 1) == 1;
    int write_err = errno;
    ::close(fd);
    if (::unlink(probe.c_str()) != 0)
      return fail("cannot remove probe file in directory", errno);
    if (!ok)
      return fail("cannot write to directory", write_err);
    return std::nullopt;
  } catch (const std::exception& ex) {
    return config_error{file, key,
                        "cannot check directory " + quote(cfg.data_dir) + ": "
                          + ex.what()};
  }
}

void apply_caf_options(const node_config& cfg,
                       caf::actor_system_config& sys_cfg) {
  if (!cfg.scheduler_policy.empty())
    caf::put(sys_cfg.content, "scheduler.policy",
             caf::atom_from_string(cfg.scheduler_policy));
  if (cfg.scheduler_max_threads > 0)
    caf::put(sys_cfg.content, "scheduler.max-threads",
             static_cast<int64_t>(cfg.scheduler_max_threads));
  if (cfg.middleman_workers >= 0)
    caf::put(sys_cfg.content, "middleman.workers",
             static_cast<int64_t>(cfg.middleman_workers));
}

} // namespace conclave
