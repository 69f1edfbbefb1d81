// Bulk creates and deletes through multi: see zk_bench_batch.hpp.
#include "tools/bench/zk_bench_batch.hpp"

#include <condition_variable>
#include <mutex>

namespace conclave::bench {

namespace {

constexpr size_t max_ops_per_multi = 100;
constexpr size_t max_bytes_per_multi = 512 * 1024;
constexpr int window = 16;

enum class bulk_op { create, del };

struct bulk_state {
  std::mutex mutex;
  std::condition_variable cv;
  int in_flight = 0;
  std::vector<size_t> failed; // indices into the paths
  int first_error = 0;
  bool ignore_missing = false;
};

struct multi_call {
  bulk_state* state;
  size_t first;
  size_t count;
  std::vector<zoo_op_t> ops;
  std::vector<zoo_op_result_t> results;
};

void note_failure(bulk_state& st, const multi_call& call, int rc) {
  for (size_t i = 0; i < call.count; ++i)
    st.failed.push_back(call.first + i);
  if (st.first_error == 0)
    st.first_error = rc;
}

void on_multi_done(int rc, const void* data) {
  auto* call = static_cast<multi_call*>(const_cast<void*>(data));
  auto& st = *call->state;
  {
    std::lock_guard<std::mutex> guard(st.mutex);
    if (rc != ZOK && !(st.ignore_missing && rc == ZNONODE))
      note_failure(st, *call, rc);
    --st.in_flight;
  }
  st.cv.notify_all();
  delete call;
}

// Applies `op` to paths[idx[0..]] in multis of at most `max_ops`; returns the
// indices (into paths) that failed.
std::vector<size_t> apply(zhandle_t* zh, const std::vector<std::string>& paths,
                          const std::vector<size_t>& idx, bulk_op op,
                          const std::string& value, size_t max_ops,
                          bool ignore_missing, int& first_error) {
  bulk_state st;
  st.ignore_missing = ignore_missing;
  size_t next = 0;
  while (next < idx.size()) {
    {
      std::unique_lock<std::mutex> lock(st.mutex);
      st.cv.wait(lock, [&] { return st.in_flight < window; });
    }
    // idx is contiguous in its runs, but not necessarily overall: the call
    // records positions in idx, mapped back below.
    auto call = std::make_unique<multi_call>();
    call->state = &st;
    call->first = next;
    size_t bytes = 0;
    while (
      next < idx.size() && call->ops.size() < max_ops
      && (call->ops.empty() || bytes + value.size() <= max_bytes_per_multi)) {
      zoo_op_t o;
      const char* path = paths[idx[next]].c_str();
      if (op == bulk_op::create)
        zoo_create_op_init(&o, path, value.data(),
                           static_cast<int>(value.size()), &ZOO_OPEN_ACL_UNSAFE,
                           ZOO_PERSISTENT, nullptr, 0);
      else
        zoo_delete_op_init(&o, path, -1);
      call->ops.push_back(o);
      bytes += value.size() + paths[idx[next]].size();
      ++next;
    }
    call->count = call->ops.size();
    call->results.resize(call->count);
    {
      std::lock_guard<std::mutex> guard(st.mutex);
      ++st.in_flight;
    }
    multi_call* raw = call.release();
    int rc = zoo_amulti(zh, static_cast<int>(raw->count), raw->ops.data(),
                        raw->results.data(), &on_multi_done, raw);
    if (rc != ZOK) { // no completion will come
      std::lock_guard<std::mutex> guard(st.mutex);
      note_failure(st, *raw, rc);
      --st.in_flight;
      delete raw;
    }
  }
  std::unique_lock<std::mutex> lock(st.mutex);
  st.cv.wait(lock, [&] { return st.in_flight == 0; });
  if (first_error == 0)
    first_error = st.first_error;
  std::vector<size_t> failed;
  failed.reserve(st.failed.size());
  for (size_t pos : st.failed)
    failed.push_back(idx[pos]);
  return failed;
}

std::vector<size_t> all_indices(size_t n) {
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i)
    idx[i] = i;
  return idx;
}

} // namespace

batch_outcome create_all(zhandle_t* zh, const std::vector<std::string>& paths,
                         const std::string& value) {
  batch_outcome out;
  auto failed = apply(zh, paths, all_indices(paths.size()), bulk_op::create,
                      value, max_ops_per_multi, false, out.first_error);
  out.failed = failed.size();
  return out;
}

batch_outcome delete_all(zhandle_t* zh, const std::vector<std::string>& paths) {
  batch_outcome out;
  std::string none;
  auto failed = apply(zh, paths, all_indices(paths.size()), bulk_op::del, none,
                      max_ops_per_multi, false, out.first_error);
  if (!failed.empty()) {
    // One znode at a time: only the ones really left behind fail.
    out.first_error = 0;
    failed
      = apply(zh, paths, failed, bulk_op::del, none, 1, true, out.first_error);
  }
  out.failed = failed.size();
  return out;
}

} // namespace conclave::bench
