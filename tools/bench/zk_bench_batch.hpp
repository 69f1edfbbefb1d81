// Bulk creates and deletes for conclave-bench's setup and clean-up: many
// znodes through multi requests (up to 100 ops and 512 KiB of values each,
// 16 multis in flight on one session), much faster than one request per
// znode. Not measured: the benchmark's timed phase never uses these.
//
// ZooKeeper has no recursive delete on the wire; the caller knows the
// names it created and deletes them level by level, deepest first.
#pragma once

#include "tools/bench/zk_bench_zookeeper.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace conclave::bench {

struct batch_outcome {
  size_t failed = 0;   // paths not created / not deleted
  int first_error = 0; // the first non-ZOK code seen (0 = none)
};

// Creates every path (persistent, open ACL) with `value`; parents first
// (the caller orders the paths). A failed multi fails all of its paths.
batch_outcome create_all(zhandle_t* zh, const std::vector<std::string>& paths,
                         const std::string& value);

// Deletes every path, best effort: a multi that fails (one of its znodes is
// missing, or has children) is retried one znode at a time, and a missing
// znode counts as deleted.
batch_outcome delete_all(zhandle_t* zh, const std::vector<std::string>& paths);

} // namespace conclave::bench
