// path: znode path syntax, as ZooKeeper's PathUtils defines it.
//
// Paths are absolute, '/'-separated byte strings: no empty, "." or ".."
// segments, no trailing '/' except for the root, no NUL, and none of the
// characters ZooKeeper rejects (checked on the UTF-8 decoding, see
// validate()). The helpers below are pure string functions on such paths; the
// tree (data_tree) decides what exists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/error_code.hpp"

namespace conclave::path {

/// The root path.
inline constexpr std::string_view root = "/";

/// ZooKeeper's system subtree. Conclave keeps it read-only (see data_tree).
inline constexpr std::string_view reserved_root = "/zookeeper";

/// Length of the suffix a sequential create appends ("%010d").
inline constexpr size_t sequence_suffix_bytes = 10;

/// ok if `p` is a valid znode path of at most `max_bytes` bytes, else
/// bad_arguments. Rejected characters, on the UTF-8 decoding of `p` (as
/// ZooKeeper rejects them on its UTF-16 string): U+0000, U+0001-U+001F,
/// U+007F-U+009F, U+D800-U+F8FF, U+FFF0-U+FFFF, every code point above U+FFFF
/// (a surrogate pair in Java) and malformed UTF-8 (Java decodes it to
/// U+FFFD, which is rejected as well).
error_code validate(std::string_view p, size_t max_bytes);

/// validate() for the path argument of a create. A sequential create is
/// checked as if the 10-digit suffix were already appended, so "/a/" is a
/// valid sequential path (it creates "/a/0000000001"-style names) and
/// `max_bytes` bounds the final name.
error_code validate_for_create(std::string_view p, bool sequential,
                               size_t max_bytes);

/// Everything before the last '/', or "/" if that is the first byte:
/// parent("/a/b") == "/a", parent("/a") == "/", parent("/a/") == "/a".
/// parent("/") == "/"; callers that care test for the root first.
/// Precondition: `p` starts with '/'.
std::string_view parent(std::string_view p) noexcept;

/// Moves `p` to its parent ("/a/b" -> "/a" -> "/"), as ZooKeeper's
/// PathParentIterator does; false (leaving `p` alone) once there is no
/// parent: at "/", or for something that is not a path.
bool step_up(std::string_view& p) noexcept;

/// Everything after the last '/': basename("/a/b") == "b",
/// basename("/") == "", basename("/a/") == "".
std::string_view basename(std::string_view p) noexcept;

/// `parent` + "/" + `name`, without doubling the root's slash.
std::string join(std::string_view parent, std::string_view name);

/// The sequential-create suffix for `counter`, formatted like ZooKeeper's
/// String.format("%010d", counter).
std::string sequence_suffix(int32_t counter);

/// ZooKeeper's configuration node (read-only for clients).
inline constexpr std::string_view config_node = "/zookeeper/config";

/// True for the built-in nodes that cannot be deleted: "/zookeeper",
/// "/zookeeper/quota" and "/zookeeper/config".
bool is_protected(std::string_view p) noexcept;

} // namespace conclave::path
