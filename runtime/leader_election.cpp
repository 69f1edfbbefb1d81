#include "runtime/leader_election.hpp"

namespace conclave {

leader_election::leader_election(blocking_client& client,
                                 std::string election_path,
                                 std::string candidate_data)
    : client_(client), lock_(client, std::move(election_path),
                             std::move(candidate_data), candidate_prefix) {}

bool leader_election::campaign(std::chrono::milliseconds timeout,
                               const cancel_check& cancelled) {
  return lock_.acquire(timeout, cancelled).has_value();
}

std::optional<std::string> leader_election::leader() {
  const auto& path = lock_.path();
  if (!client_.sync(path))
    return std::nullopt;
  // The lowest candidate may go between the listing and the read: retry.
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto kids = client_.children(path);
    if (!kids)
      return std::nullopt;
    auto queue
      = recipe_detail::sorted_queue(kids.value.names, candidate_prefix);
    if (queue.empty())
      return std::nullopt;
    auto got = client_.get(path + "/" + queue.front().name);
    if (got)
      return got.value.data;
    if (got.error != error_code::no_node)
      return std::nullopt;
  }
  return std::nullopt;
}

} // namespace conclave
