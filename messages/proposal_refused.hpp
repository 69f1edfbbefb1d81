// proposal_refused: why a log actor turned a proposal down before appending
// it. Only these errors prove that nothing was written, so only they let a
// client send the same write again (elsewhere, later). Any other failure of
// a proposal (a timeout, a leader lost after appending, a log actor gone)
// leaves the write's fate unknown: retrying it could apply it twice.
//
// The error crosses the network when a follower forwarded the proposal to
// the leader, so it is a plain caf::error (code + category + text).
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace conclave {

enum class proposal_refused : uint8_t {
  /// This node does not lead and knows no leader to forward to.
  no_leader = 1,
  /// The leader has too many proposals in flight.
  throttled = 2,
};

/// The category of proposal_refused errors.
inline constexpr caf::atom_value proposal_refused_category
  = caf::atom("refused");

inline caf::error make_error(proposal_refused reason, std::string detail) {
  return caf::error{static_cast<uint8_t>(reason), proposal_refused_category,
                    caf::make_message(std::move(detail))};
}

/// Whether `err` proves that the proposal was not appended.
inline bool is_proposal_refused(const caf::error& err) {
  return err && err.category() == proposal_refused_category;
}

} // namespace conclave
