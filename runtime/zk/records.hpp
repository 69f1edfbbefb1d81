// records: ZooKeeper 3.8/3.9's client protocol records and constants, with a
// jute decoder and encoder for each (pure: no CAF, sockets, clock or
// logging).
//
// What: the records of zookeeper-jute/src/main/resources/zookeeper.jute
// that a client and server exchange, field for field and in the file's
// order, plus the hand-written ones: the multi request/response
// (MultiOperationRecord.java, MultiResponse.java), the trailing readOnly
// byte of the handshake (ZooKeeperServer.processConnectRequest) and the raw
// path of deleteContainer. Names are ZooKeeper's in snake_case
// (CreateRequest -> create_request, Stat.ephemeralOwner -> ephemeral_owner).
//
// How to use: for every record T below,
//
//   jute_result<T> decode<T>(jute_reader&);   // reads T's fields in order
//   void encode(jute_writer&, const T&);       // appends them
//
// A decoder consumes only its own fields; bytes after them are left in the
// reader (ZooKeeper ignores trailing bytes of a request too). A frame's
// payload is RequestHeader + request record (ReplyHeader + response record
// in the other direction), except the first frame of a connection:
// ConnectRequest / ConnectResponse without a header. Notifications are
// ReplyHeader{xid -1} + WatcherEvent. Which record follows a header is the
// caller's choice (by the header's type, or by the xid a reply answers);
// a reply's body follows only when its err is 0.
//
// Nulls read as empty values and are written as empty values (jute.hpp).
//
// Where the reference notes (shared/reference/zookeeper-wire.md) and the
// real files differ, this follows the real files:
// - ConnectRequest/ConnectResponse in zookeeper.jute have no readOnly
//   field: the server reads one more boolean after the record if the frame
//   has it, and writes one after its response only if the request had it.
//   Here: connect_request/connect_response::has_read_only.
// - deleteContainer (20) has no jute record: its payload is the path's bare
//   bytes (PrepRequestProcessor: new String(request.request.array())); it is
//   an internal request of the server's ContainerManager, not a client one.
// - Opcode 107 is whoAmI in the 3.7-3.9 releases (WhoAmIResponse{vector<
//   ClientInfo>}); some development snapshots of ZooDefs.java reuse 107 for
//   a getStatPersisted request. This follows the releases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/zk/jute.hpp"

namespace conclave::zk {

// -- constants ----------------------------------------------------------------

/// ZooDefs.OpCode.
enum class op_code : int32_t {
  notification = 0,
  create = 1,
  remove = 2, ///< ZooKeeper's "delete"
  exists = 3,
  get_data = 4,
  set_data = 5,
  get_acl = 6,
  set_acl = 7,
  get_children = 8,
  sync = 9,
  ping = 11,
  get_children2 = 12,
  check = 13,
  multi = 14,
  create2 = 15,
  reconfig = 16,
  check_watches = 17,
  remove_watches = 18,
  create_container = 19,
  delete_container = 20,
  create_ttl = 21,
  multi_read = 22,
  auth = 100,
  set_watches = 101,
  sasl = 102,
  get_ephemerals = 103,
  get_all_children_number = 104,
  set_watches2 = 105,
  add_watch = 106,
  who_am_i = 107,
  create_session = -10,
  close_session = -11,
  error = -1,
};

/// ZooDefs.OpCode's name for `type` ("create", "getData", "whoAmI", ...),
/// or "unknown".
std::string_view op_name(int32_t type) noexcept;

/// Whether `type` is one of the op codes above.
bool is_known_op(int32_t type) noexcept;

/// Special xids (ClientCnxn): a server-initiated notification, a ping, an
/// auth packet and SetWatches(2) use these instead of a request's own.
constexpr int32_t notification_xid = -1;
constexpr int32_t ping_xid = -2;
constexpr int32_t auth_xid = -4;
constexpr int32_t set_watches_xid = -8;

/// ConnectRequest/ConnectResponse protocolVersion.
constexpr int32_t protocol_version = 0;
/// Length of a session password (ZooKeeperServer.generatePasswd).
constexpr size_t session_passwd_bytes = 16;

/// ZooDefs.Perms.
constexpr int32_t perm_read = 1;
constexpr int32_t perm_write = 2;
constexpr int32_t perm_create = 4;
constexpr int32_t perm_delete = 8;
constexpr int32_t perm_admin = 16;
constexpr int32_t perm_all = 31;

/// CreateMode flags.
enum class create_mode : int32_t {
  persistent = 0,
  ephemeral = 1,
  persistent_sequential = 2,
  ephemeral_sequential = 3,
  container = 4,
  persistent_with_ttl = 5,
  persistent_sequential_with_ttl = 6,
};

/// Watcher.Event.EventType.
enum class event_type : int32_t {
  none = -1,
  node_created = 1,
  node_deleted = 2,
  node_data_changed = 3,
  node_children_changed = 4,
  data_watch_removed = 5,
  child_watch_removed = 6,
  persistent_watch_removed = 7,
};

/// Watcher.Event.KeeperState (without the deprecated Unknown and
/// NoSyncConnected).
enum class keeper_state : int32_t {
  disconnected = 0,
  sync_connected = 3,
  auth_failed = 4,
  connected_read_only = 5,
  sasl_authenticated = 6,
  closed = 7,
  expired = -112,
};

/// Watcher.WatcherType (checkWatches / removeWatches).
enum class watcher_type : int32_t {
  children = 1,
  data = 2,
  any = 3,
  persistent = 4,
  persistent_recursive = 5,
};

/// ZooDefs.AddWatchModes.
enum class add_watch_mode : int32_t {
  persistent = 0,
  persistent_recursive = 1,
};

// -- org.apache.zookeeper.data ----------------------------------------------

struct id {
  std::string scheme;
  std::string id;
};

struct acl {
  int32_t perms = 0;
  zk::id id;
};

/// Stat: 68 bytes on the wire, in this order.
struct stat {
  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int32_t version = 0;
  int32_t cversion = 0;
  int32_t aversion = 0;
  int64_t ephemeral_owner = 0;
  int32_t data_length = 0;
  int32_t num_children = 0;
  int64_t pzxid = 0;
};

constexpr size_t stat_bytes = 68;

struct client_info {
  std::string auth_scheme;
  std::string user;
};

bool operator==(const id& a, const id& b) noexcept;
bool operator==(const acl& a, const acl& b) noexcept;
bool operator==(const stat& a, const stat& b) noexcept;
bool operator==(const client_info& a, const client_info& b) noexcept;
inline bool operator!=(const id& a, const id& b) noexcept {
  return !(a == b);
}
inline bool operator!=(const acl& a, const acl& b) noexcept {
  return !(a == b);
}
inline bool operator!=(const stat& a, const stat& b) noexcept {
  return !(a == b);
}
inline bool operator!=(const client_info& a, const client_info& b) noexcept {
  return !(a == b);
}

/// ZooDefs.Ids.OPEN_ACL_UNSAFE: world:anyone with every permission.
std::vector<acl> open_acl_unsafe();

// -- handshake ----------------------------------------------------------------

/// The first frame of a connection (no RequestHeader). 44 bytes with a
/// 16-byte password and no readOnly byte (old clients), 45 with it.
struct connect_request {
  int32_t protocol_version = 0;
  int64_t last_zxid_seen = 0;
  int32_t time_out = 0;
  int64_t session_id = 0; ///< 0 = a new session
  std::string passwd;
  /// Whether the frame carries the trailing readOnly byte. Decoding sets it
  /// when at least one byte follows the password; encoding writes the byte
  /// only when it is set.
  bool has_read_only = true;
  bool read_only = false;
};

/// The answer to connect_request. Send the readOnly byte (has_read_only)
/// exactly when the request had one, as ZooKeeper does.
struct connect_response {
  int32_t protocol_version = 0;
  int32_t time_out = 0;
  int64_t session_id = 0;
  std::string passwd;
  bool has_read_only = true;
  bool read_only = false;
};

// -- headers ------------------------------------------------------------------

struct request_header {
  int32_t xid = 0;
  int32_t type = 0;
};

struct reply_header {
  int32_t xid = 0;
  int64_t zxid = 0;
  int32_t err = 0;
};

struct multi_header {
  int32_t type = 0;
  bool done = false;
  int32_t err = 0;
};

// -- session-level requests ---------------------------------------------------

/// xid -4, type 100. `type` is 0 in practice.
struct auth_packet {
  int32_t type = 0;
  std::string scheme;
  std::string auth;
};

/// xid -8, type 101.
struct set_watches {
  int64_t relative_zxid = 0;
  std::vector<std::string> data_watches;
  std::vector<std::string> exist_watches;
  std::vector<std::string> child_watches;
};

/// xid -8, type 105.
struct set_watches2 {
  int64_t relative_zxid = 0;
  std::vector<std::string> data_watches;
  std::vector<std::string> exist_watches;
  std::vector<std::string> child_watches;
  std::vector<std::string> persistent_watches;
  std::vector<std::string> persistent_recursive_watches;
};

/// The body of a notification (xid -1).
struct watcher_event {
  int32_t type = 0;  ///< event_type
  int32_t state = 0; ///< keeper_state
  std::string path;
};

struct error_response {
  int32_t err = 0;
};

// -- znode requests and responses ---------------------------------------------

/// create (1), create2 (15), createContainer (19).
struct create_request {
  std::string path;
  std::string data;
  std::vector<zk::acl> acl;
  int32_t flags = 0; ///< create_mode
};

/// createTTL (21).
struct create_ttl_request {
  std::string path;
  std::string data;
  std::vector<zk::acl> acl;
  int32_t flags = 0;
  int64_t ttl = 0;
};

/// The answer to create (1).
struct create_response {
  std::string path;
};

/// The answer to create2, createContainer, createTTL.
struct create2_response {
  std::string path;
  zk::stat stat;
};

/// delete (2); its answer has no body.
struct delete_request {
  std::string path;
  int32_t version = -1;
};

/// deleteContainer (20): the payload is the path's bytes, nothing else.
struct delete_container_request {
  std::string path;
};

struct exists_request {
  std::string path;
  bool watch = false;
};

struct exists_response {
  zk::stat stat;
};

struct get_data_request {
  std::string path;
  bool watch = false;
};

struct get_data_response {
  std::string data;
  zk::stat stat;
};

struct set_data_request {
  std::string path;
  std::string data;
  int32_t version = -1;
};

struct set_data_response {
  zk::stat stat;
};

struct get_acl_request {
  std::string path;
};

struct get_acl_response {
  std::vector<zk::acl> acl;
  zk::stat stat;
};

struct set_acl_request {
  std::string path;
  std::vector<zk::acl> acl;
  int32_t version = -1;
};

struct set_acl_response {
  zk::stat stat;
};

struct get_children_request {
  std::string path;
  bool watch = false;
};

struct get_children_response {
  std::vector<std::string> children;
};

struct get_children2_request {
  std::string path;
  bool watch = false;
};

struct get_children2_response {
  std::vector<std::string> children;
  zk::stat stat;
};

struct sync_request {
  std::string path;
};

struct sync_response {
  std::string path;
};

/// check (13), inside a multi.
struct check_version_request {
  std::string path;
  int32_t version = -1;
};

struct get_ephemerals_request {
  std::string prefix_path;
};

struct get_ephemerals_response {
  std::vector<std::string> ephemerals;
};

struct get_all_children_number_request {
  std::string path;
};

struct get_all_children_number_response {
  int32_t total_number = 0;
};

/// addWatch (106); its answer has no body.
struct add_watch_request {
  std::string path;
  int32_t mode = 0; ///< add_watch_mode
};

/// checkWatches (17); its answer has no body.
struct check_watches_request {
  std::string path;
  int32_t type = 0; ///< watcher_type
};

/// removeWatches (18); its answer has no body.
struct remove_watches_request {
  std::string path;
  int32_t type = 0; ///< watcher_type
};

/// The answer to whoAmI (107), whose request has no body.
struct who_am_i_response {
  std::vector<zk::client_info> client_info;
};

/// reconfig (16); answered with a get_data_response (the new config).
struct reconfig_request {
  std::string joining_servers;
  std::string leaving_servers;
  std::string new_members;
  int64_t cur_config_id = 0;
};

/// sasl (102): GetSASLRequest.
struct get_sasl_request {
  std::string token;
};

/// The answer to sasl (102).
struct set_sasl_response {
  std::string token;
};

// -- multi (14) and multiRead (22) -------------------------------------------

/// One operation of a multi: its op code (the MultiHeader's type) and its
/// record. The op codes and the record each carries:
///   create (1), create2 (15), createContainer (19)  create_request
///   createTTL (21)                                   create_ttl_request
///   delete (2)                                       delete_request
///   setData (5)                                      set_data_request
///   check (13)                                       check_version_request
///   getChildren (8)                                  get_children_request
///   getData (4)                                      get_data_request
/// The decoder rejects any other op code (bad_multi_op); the encoder writes
/// `type` and then whichever record `request` holds, so the two must match.
/// Mixing reads (multiRead: getChildren, getData) with writes in one request
/// is the caller's to refuse, as ZooKeeper does.
struct multi_op {
  int32_t type = 0;
  std::variant<create_request, create_ttl_request, delete_request,
               set_data_request, check_version_request, get_children_request,
               get_data_request>
    request;
};

/// A multi / multiRead request: each op as MultiHeader{type, false, -1} +
/// record, ended by MultiHeader{-1, true, -1}. The decoder stops at the
/// first header whose `done` is set, whatever its type (as Java does).
struct multi_request {
  std::vector<multi_op> ops;
};

/// No body (delete, check).
struct multi_empty {};

/// One result of a multi: MultiHeader{type, false, err} + record. The result
/// types and the record each carries:
///   create (1)          create_response
///   create2 (15)        create2_response (also createTTL/createContainer)
///   delete (2)          multi_empty
///   setData (5)         set_data_response
///   check (13)          multi_empty
///   getChildren (8)     get_children_response
///   getData (4)         get_data_response
///   error (-1)          error_response (`err` in the header too)
/// When any op of a multi fails, ZooKeeper answers every op with an error
/// result: 0 for the ops before the failing one, its code for it, and
/// RuntimeInconsistency (-2) for the ops after it. multiRead answers each op
/// on its own (results and errors mixed).
struct multi_result {
  int32_t type = 0;
  int32_t err = 0;
  std::variant<multi_empty, create_response, create2_response,
               set_data_response, get_children_response, get_data_response,
               error_response>
    response;
};

/// The answer to multi / multiRead: results as above, ended by
/// MultiHeader{-1, true, -1}.
struct multi_response {
  std::vector<multi_result> results;
};

/// An error result for a multi op (type -1, err in header and body).
multi_result multi_error(int32_t err);

// -- codec ----------------------------------------------------------------------

/// Reads a T (one of the records above) from `in`. Defined (explicitly
/// instantiated) for exactly the records declared extern below.
template <class T>
jute_result<T> decode(jute_reader& in);

extern template jute_result<id> decode<id>(jute_reader&);
extern template jute_result<acl> decode<acl>(jute_reader&);
extern template jute_result<stat> decode<stat>(jute_reader&);
extern template jute_result<client_info> decode<client_info>(jute_reader&);
extern template jute_result<connect_request>
decode<connect_request>(jute_reader&);
extern template jute_result<connect_response>
decode<connect_response>(jute_reader&);
extern template jute_result<request_header>
decode<request_header>(jute_reader&);
extern template jute_result<reply_header> decode<reply_header>(jute_reader&);
extern template jute_result<multi_header> decode<multi_header>(jute_reader&);
extern template jute_result<auth_packet> decode<auth_packet>(jute_reader&);
extern template jute_result<set_watches> decode<set_watches>(jute_reader&);
extern template jute_result<set_watches2> decode<set_watches2>(jute_reader&);
extern template jute_result<watcher_event> decode<watcher_event>(jute_reader&);
extern template jute_result<error_response>
decode<error_response>(jute_reader&);
extern template jute_result<create_request>
decode<create_request>(jute_reader&);
extern template jute_result<create_ttl_request>
decode<create_ttl_request>(jute_reader&);
extern template jute_result<create_response>
decode<create_response>(jute_reader&);
extern template jute_result<create2_response>
decode<create2_response>(jute_reader&);
extern template jute_result<delete_request>
decode<delete_request>(jute_reader&);
extern template jute_result<delete_container_request>
decode<delete_container_request>(jute_reader&);
extern template jute_result<exists_request>
decode<exists_request>(jute_reader&);
extern template jute_result<exists_response>
decode<exists_response>(jute_reader&);
extern template jute_result<get_data_request>
decode<get_data_request>(jute_reader&);
extern template jute_result<get_data_response>
decode<get_data_response>(jute_reader&);
extern template jute_result<set_data_request>
decode<set_data_request>(jute_reader&);
extern template jute_result<set_data_response>
decode<set_data_response>(jute_reader&);
extern template jute_result<get_acl_request>
decode<get_acl_request>(jute_reader&);
extern template jute_result<get_acl_response>
decode<get_acl_response>(jute_reader&);
extern template jute_result<set_acl_request>
decode<set_acl_request>(jute_reader&);
extern template jute_result<set_acl_response>
decode<set_acl_response>(jute_reader&);
extern template jute_result<get_children_request>
decode<get_children_request>(jute_reader&);
extern template jute_result<get_children_response>
decode<get_children_response>(jute_reader&);
extern template jute_result<get_children2_request>
decode<get_children2_request>(jute_reader&);
extern template jute_result<get_children2_response>
decode<get_children2_response>(jute_reader&);
extern template jute_result<sync_request> decode<sync_request>(jute_reader&);
extern template jute_result<sync_response> decode<sync_response>(jute_reader&);
extern template jute_result<check_version_request>
decode<check_version_request>(jute_reader&);
extern template jute_result<get_ephemerals_request>
decode<get_ephemerals_request>(jute_reader&);
extern template jute_result<get_ephemerals_response>
decode<get_ephemerals_response>(jute_reader&);
extern template jute_result<get_all_children_number_request>
decode<get_all_children_number_request>(jute_reader&);
extern template jute_result<get_all_children_number_response>
decode<get_all_children_number_response>(jute_reader&);
extern template jute_result<add_watch_request>
decode<add_watch_request>(jute_reader&);
extern template jute_result<check_watches_request>
decode<check_watches_request>(jute_reader&);
extern template jute_result<remove_watches_request>
decode<remove_watches_request>(jute_reader&);
extern template jute_result<who_am_i_response>
decode<who_am_i_response>(jute_reader&);
extern template jute_result<reconfig_request>
decode<reconfig_request>(jute_reader&);
extern template jute_result<get_sasl_request>
decode<get_sasl_request>(jute_reader&);
extern template jute_result<set_sasl_response>
decode<set_sasl_response>(jute_reader&);
extern template jute_result<multi_request> decode<multi_request>(jute_reader&);
extern template jute_result<multi_response>
decode<multi_response>(jute_reader&);

void encode(jute_writer& out, const id& x);
void encode(jute_writer& out, const acl& x);
void encode(jute_writer& out, const stat& x);
void encode(jute_writer& out, const client_info& x);
void encode(jute_writer& out, const connect_request& x);
void encode(jute_writer& out, const connect_response& x);
void encode(jute_writer& out, const request_header& x);
void encode(jute_writer& out, const reply_header& x);
void encode(jute_writer& out, const multi_header& x);
void encode(jute_writer& out, const auth_packet& x);
void encode(jute_writer& out, const set_watches& x);
void encode(jute_writer& out, const set_watches2& x);
void encode(jute_writer& out, const watcher_event& x);
void encode(jute_writer& out, const error_response& x);
void encode(jute_writer& out, const create_request& x);
void encode(jute_writer& out, const create_ttl_request& x);
void encode(jute_writer& out, const create_response& x);
void encode(jute_writer& out, const create2_response& x);
void encode(jute_writer& out, const delete_request& x);
void encode(jute_writer& out, const delete_container_request& x);
void encode(jute_writer& out, const exists_request& x);
void encode(jute_writer& out, const exists_response& x);
void encode(jute_writer& out, const get_data_request& x);
void encode(jute_writer& out, const get_data_response& x);
void encode(jute_writer& out, const set_data_request& x);
void encode(jute_writer& out, const set_data_response& x);
void encode(jute_writer& out, const get_acl_request& x);
void encode(jute_writer& out, const get_acl_response& x);
void encode(jute_writer& out, const set_acl_request& x);
void encode(jute_writer& out, const set_acl_response& x);
void encode(jute_writer& out, const get_children_request& x);
void encode(jute_writer& out, const get_children_response& x);
void encode(jute_writer& out, const get_children2_request& x);
void encode(jute_writer& out, const get_children2_response& x);
void encode(jute_writer& out, const sync_request& x);
void encode(jute_writer& out, const sync_response& x);
void encode(jute_writer& out, const check_version_request& x);
void encode(jute_writer& out, const get_ephemerals_request& x);
void encode(jute_writer& out, const get_ephemerals_response& x);
void encode(jute_writer& out, const get_all_children_number_request& x);
void encode(jute_writer& out, const get_all_children_number_response& x);
void encode(jute_writer& out, const add_watch_request& x);
void encode(jute_writer& out, const check_watches_request& x);
void encode(jute_writer& out, const remove_watches_request& x);
void encode(jute_writer& out, const who_am_i_response& x);
void encode(jute_writer& out, const reconfig_request& x);
void encode(jute_writer& out, const get_sasl_request& x);
void encode(jute_writer& out, const set_sasl_response& x);
void encode(jute_writer& out, const multi_request& x);
void encode(jute_writer& out, const multi_response& x);

} // namespace conclave::zk
