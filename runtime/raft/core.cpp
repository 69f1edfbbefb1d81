#include "runtime/raft/core.hpp"

#include "runtime/raft/codec.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <type_traits>

namespace conclave::raft {

namespace {

constexpr int max_ticks = 1'000'000;
constexpr size_t max_window = size_t{1} << 16;
constexpr size_t max_reads = size_t{1} << 24;

/// splitmix64 (Steele, Lea, Flood 2014): tiny, and the same on every
/// platform, unlike the distributions of <random>.
uint64_t splitmix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

log_index plus(log_index x, uint64_t n) noexcept {
  return log_index{x.value() + n};
}

log_index minus1(log_index x) noexcept {
  return log_index{x.value() - 1};
}

term_t next_term(term_t t) noexcept {
  return term_t{t.value() + 1};
}

const char* name_of(const message_body& body) noexcept {
  constexpr const char* names[] = {
    "vote_request",    "vote_response",      "append_request",
    "append_response", "install_snapshot",   "install_snapshot_response",
    "timeout_now",     "read_index_request", "read_index_response",
  };
  return names[body.index()];
}

} // namespace

const char* to_string(role r) noexcept {
  switch (r) {
    case role::follower:
      return "follower";
    case role::pre_candidate:
      return "pre_candidate";
    case role::candidate:
      return "candidate";
    case role::leader:
      return "leader";
  }
  return "?";
}

// -- core_config / output ----------------------------------------------------

std::string core_config::validate() const {
  if (self == node_id{})
    return "self must not be 0";
  if (!bootstrap.empty() && !voters.empty())
    return "set either bootstrap or voters, not both";
  if (voters.size() > max_members)
    return "voters must hold at most " + std::to_string(max_members) + " nodes";
  auto sorted = voters;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    return "voters must not repeat a node";
  auto boot = initial();
  if (auto err = boot.validate(); !err.empty())
    return "bootstrap configuration: " + err;
  if (!boot.empty() && !boot.is_voter(self))
    return "the bootstrap configuration must hold self as a voter";
  if (election_timeout_ticks < 2 || election_timeout_ticks > max_ticks)
    return "election_timeout_ticks must be in [2, 1000000]";
  if (heartbeat_interval_ticks < 1
      || heartbeat_interval_ticks >= election_timeout_ticks)
    return "heartbeat_interval_ticks must be in [1, election_timeout_ticks)";
  if (snapshot_retry_ticks < election_timeout_ticks
      || snapshot_retry_ticks > max_ticks)
    return "snapshot_retry_ticks must be in [election_timeout_ticks, 1000000]";
  if (max_append_entries < 1 || max_append_entries > max_window * 16)
    return "max_append_entries must be in [1, 1048576]";
  if (max_append_bytes < 1)
    return "max_append_bytes must be positive";
  if (max_inflight_appends < 1 || max_inflight_appends > max_window)
    return "max_inflight_appends must be in [1, 65536]";
  if (max_uncommitted_entries < 1)
    return "max_uncommitted_entries must be positive";
  if (max_pending_reads < 1 || max_pending_reads > max_reads)
    return "max_pending_reads must be in [1, 16777216]";
  return {};
}

configuration core_config::initial() const {
  return bootstrap.empty() ? configuration::of_voters(voters) : bootstrap;
}

bool output::empty() const noexcept {
  return !state && !snapshot && entries.empty() && messages.empty()
         && messages_after_persist.empty() && committed.empty() && reads.empty()
         && failed_reads.empty() && !leadership_changed && snapshot_for.empty()
         && log.empty();
}

// -- construction ------------------------------------------------------------

core::core(core_config cfg, persistent_state disk)
    : cfg_(std::move(cfg)), rng_state_(cfg_.seed) {
  if (auto err = cfg_.validate(); !err.empty())
    broken("invalid config: " + err);
  const auto& snap = disk.snapshot;
  bool has_snapshot = snap.index > log_index{};
  auto base
    = has_snapshot && !snap.config.empty() ? snap.config : cfg_.initial();
  configs_.emplace_back(snap.index, base);
  snapshot_ = snap;
  snapshot_.config = base;
  log_ = raft_log{snap.index, snap.term};
  for (auto& e : disk.entries)
    if (e.index > snap.index)
      log_.append(std::move(e)); // aborts on a gap in the stored log
  track_configs(plus(snap.index, 1));
  // A torn write may have stored entries but not the term that came with
  // them: a term is never below the log's last term.
  term_ = std::max(disk.state.term, log_.last_term());
  vote_ = term_ == disk.state.term ? disk.state.vote : node_id{};
  commit_ = std::clamp(disk.state.commit, snap.index, log_.last_index());
  applied_ = snap.index;
  persisted_ = log_.last_index();
  reported_state_ = disk.state;
  reported_term_ = term_;
  checked_term_ = term_;
  checked_vote_ = vote_;
  checked_commit_ = commit_;
  reset_election_timer();
  note(log_line::level::info, "started at term ", term_, ", snapshot ",
       snap.index, ", last index ", log_.last_index(), ", commit ", commit_);
  if (commit_ < disk.state.commit)
    note(log_line::level::warning, "stored commit index ", disk.state.commit,
         " is beyond the stored log; using ", commit_);
  commit_to(commit_);
}

// -- inputs ------------------------------------------------------------------

void core::tick() {
  ++now_;
  if (role_ == raft::role::leader)
    tick_leader();
  else
    tick_election();
  expire_forwarded_reads();
}

void core::step(const message& msg) {
  if (msg.to != cfg_.self) {
    note(log_line::level::warning, "ignoring ", name_of(msg.body), " for ",
         msg.to);
    return;
  }
  if (msg.from == cfg_.self || msg.from == node_id{}) {
    note(log_line::level::warning, "ignoring ", name_of(msg.body), " from ",
         msg.from);
    return;
  }
  // §4.2.3: servers outside the configuration (removed, or not yet added)
  // cannot disrupt it with elections. Except a learner whose log is more up
  // to date than ours: it holds configuration entries we lack (its
  // promotion) and its election may need our vote (§4.1: servers vote
  // without consulting their configurations); a removed server is no
  // member and its log is never more up to date (it gets no entries after
  // the one that removed it).
  if (!is_voter(msg.from)) {
    bool ignore = std::holds_alternative<vote_response>(msg.body);
    if (auto req = std::get_if<vote_request>(&msg.body))
      ignore = !config().contains(msg.from)
               || req->last_log_term < log_.last_term()
               || (req->last_log_term == log_.last_term()
                   && req->last_log_index <= log_.last_index());
    if (ignore) {
      note(log_line::level::debug, "ignoring ", name_of(msg.body),
           " from non-voter ", msg.from);
      return;
    }
  }
  if (!accept_term(msg))
    return;
  std::visit([this, &msg](const auto& body) { on(msg.from, body); }, msg.body);
}

result<log_index> core::propose(std::string data) {
  if (role_ != raft::role::leader)
    return error_code::connection_loss;
  if (transfer_target_ != node_id{})
    return error_code::throttled_op;
  auto last = log_.last_index();
  if (last.value() - commit_.value() >= cfg_.max_uncommitted_entries)
    return error_code::throttled_op;
  auto index = plus(last, 1);
  log_.append(entry{term_, index, entry_type::normal, std::move(data)});
  stage_entries(index);
  broadcast_appends();
  return index;
}

void core::read_index(uint64_t read_id) {
  if (role_ == raft::role::leader) {
    if (pending_reads_.size() >= cfg_.max_pending_reads) {
      note(log_line::level::warning, "too many pending reads; failing ",
           read_id);
      out_.failed_reads.push_back(read_id);
      return;
    }
    register_read(read_id, cfg_.self);
    return;
  }
  if (leader_ == node_id{}
      || forwarded_reads_.size() >= cfg_.max_pending_reads) {
    out_.failed_reads.push_back(read_id);
    return;
  }
  // §6.4.1: a follower asks the leader for the read index.
  forwarded_reads_.push_back(forwarded_read{read_id, leader_, now_});
  send(leader_, read_index_request{term_, read_id});
}

error_code core::transfer_leadership(node_id target) {
  if (role_ != raft::role::leader)
    return error_code::connection_loss;
  if (target == cfg_.self || !is_voter(target) || !find_progress(target))
    return error_code::bad_arguments;
  if (transfer_target_ != node_id{})
    return error_code::throttled_op;
  transfer_target_ = target;
  transfer_elapsed_ = 0;
  note(log_line::level::info, "transferring leadership to ", target);
  auto& pr = *find_progress(target);
  if (pr.match() == log_.last_index())
    maybe_send_timeout_now(pr);
  else
    send_appends(pr); // catch it up first (§3.10)
  return error_code::ok;
}

std::variant<log_index, membership_error>
core::change_membership(const membership_change& change) {
  auto refuse = [](error_code code, std::string text) {
    return membership_error{code, std::move(text)};
  };
  if (role_ != raft::role::leader)
    return refuse(error_code::connection_loss, "not the leader");
  if (transfer_target_ != node_id{})
    return refuse(error_code::throttled_op, "a leadership transfer is running");
  if (!committed_in_term())
    return refuse(error_code::reconfig_in_progress,
                  "the leader has not committed an entry of its term yet");
  if (!config_committed())
    return refuse(error_code::reconfig_in_progress,
                  "the configuration change at index "
                    + std::to_string(config_index().value())
                    + " is not committed yet");
  auto outcome = apply_change(config(), change);
  if (!outcome.config)
    return refuse(error_code::bad_arguments, outcome.error);
  if (change.what == membership_change::kind::promote) {
    // §4.2.1: a voter that is far behind would stall commitment.
    auto pr = find_progress(change.id);
    if (!pr || pr->match() < commit_)
      return refuse(error_code::new_config_no_quorum,
                    "node " + std::to_string(change.id.value())
                      + " has not caught up (match "
                      + std::to_string(pr ? pr->match().value() : 0)
                      + ", commit " + std::to_string(commit_.value()) + ")");
  }
  auto index = plus(log_.last_index(), 1);
  log_.append(entry{term_, index, entry_type::config, encode(*outcome.config)});
  note(log_line::level::info, "configuration change at ", index, ": ",
       to_string(change.what), " ", change.id);
  configs_.emplace_back(index, std::move(*outcome.config));
  config_changed();
  stage_entries(index);
  broadcast_appends();
  return index;
}

void core::persisted(log_index index, term_t term) {
  if (index <= persisted_)
    return;
  if (!log_.matches(index, term)) {
    note(log_line::level::debug, "ignoring persisted(", index, ", ", term,
         "): overwritten since");
    return;
  }
  persisted_ = index;
  maybe_commit();
}

void core::snapshot_taken(const snapshot_meta& meta, size_t keep_entries) {
  if (meta.index <= snapshot_.index) {
    note(log_line::level::debug, "ignoring snapshot at ", meta.index,
         ": not newer than ", snapshot_.index);
    return;
  }
  if (meta.index > applied_)
    broken("snapshot_taken at " + std::to_string(meta.index.value())
           + " beyond the applied index");
  if (!log_.matches(meta.index, meta.term))
    broken("snapshot_taken with a term that is not the log's");
  const configuration* at = &configs_.front().second;
  for (const auto& [i, c] : configs_)
    if (i <= meta.index)
      at = &c;
  if (!meta.config.empty() && meta.config != *at)
    note(log_line::level::warning,
         "snapshot configuration differs from the "
         "log's at ",
         meta.index, "; using the log's");
  snapshot_ = meta;
  snapshot_.config = *at;
  auto keep = std::min<uint64_t>(keep_entries, meta.index.value());
  auto to = log_index{meta.index.value() - keep};
  if (to > log_.base_index()) {
    log_.compact(to);
    while (configs_.size() > 1 && configs_[1].first <= to)
      configs_.pop_front();
  }
  persisted_ = std::max(persisted_, meta.index); // the snapshot is durable
  note(log_line::level::info, "snapshot at ", meta.index, "; log compacted to ",
       log_.base_index());
}

output core::take_output() {
  if (role_ == raft::role::leader && read_round_needed_)
    broadcast_heartbeat(); // one round for all reads since the last (§6.4)
  auto hs = current_hard_state();
  if (hs != reported_state_) {
    out_.state = hs;
    reported_state_ = hs;
  }
  if (role_ != reported_role_ || term_ != reported_term_
      || leader_ != reported_leader_) {
    out_.leadership_changed = true;
    reported_role_ = role_;
    reported_term_ = term_;
    reported_leader_ = leader_;
  }
  output result = std::move(out_);
  out_ = output{};
  return result;
}

// -- queries -----------------------------------------------------------------

node_id core::id() const noexcept {
  return cfg_.self;
}

raft::role core::role() const noexcept {
  return role_;
}

term_t core::term() const noexcept {
  return term_;
}

node_id core::vote() const noexcept {
  return vote_;
}

node_id core::leader() const noexcept {
  return leader_;
}

log_index core::commit_index() const noexcept {
  return commit_;
}

log_index core::last_index() const noexcept {
  return log_.last_index();
}

term_t core::last_term() const noexcept {
  return log_.last_term();
}

log_index core::persisted_index() const noexcept {
  return persisted_;
}

log_index core::snapshot_index() const noexcept {
  return snapshot_.index;
}

const snapshot_meta& core::latest_snapshot() const noexcept {
  return snapshot_;
}

log_index core::compacted_index() const noexcept {
  return log_.base_index();
}

std::vector<node_id> core::voters() const {
  return config().voters();
}

const configuration& core::config() const noexcept {
  return configs_.back().second;
}

log_index core::config_index() const noexcept {
  return configs_.back().first;
}

bool core::config_committed() const noexcept {
  return config_index() <= commit_;
}

std::vector<member> core::known_members() const {
  std::vector<member> out;
  for (auto c = configs_.rbegin(); c != configs_.rend(); ++c)
    for (const auto& m : c->second.members)
      if (std::none_of(out.begin(), out.end(),
                       [&](const member& x) { return x.id == m.id; }))
        out.push_back(m);
  std::sort(out.begin(), out.end(),
            [](const member& a, const member& b) { return a.id < b.id; });
  return out;
}

std::vector<std::pair<node_id, log_index>> core::match_indexes() const {
  std::vector<std::pair<node_id, log_index>> result;
  if (role_ != raft::role::leader)
    return result;
  for (auto v : voters()) {
    auto pr = find_progress(v);
    result.emplace_back(v, pr ? pr->match() : persisted_);
  }
  return result;
}

const progress* core::progress_of(node_id peer) const noexcept {
  return find_progress(peer);
}

bool core::transferring() const noexcept {
  return transfer_target_ != node_id{};
}

size_t core::pending_reads() const noexcept {
  return role_ == raft::role::leader ? pending_reads_.size()
                                     : forwarded_reads_.size();
}

const entry* core::entry_at(log_index index) const {
  return log_.at(index);
}

// -- roles (§3.4) ------------------------------------------------------------

void core::become_follower(term_t term, node_id leader) {
  if (role_ == raft::role::leader)
    abandon_leadership();
  if (term > term_) {
    term_ = term;
    vote_ = node_id{};
    fail_forwarded_reads();
  }
  role_ = raft::role::follower;
  votes_.clear();
  set_leader(leader);
  reset_election_timer();
}

void core::become_pre_candidate() {
  // §9.6: ask whether we could win at term + 1 before disturbing anybody.
  role_ = raft::role::pre_candidate;
  votes_.clear();
  set_leader(node_id{});
  reset_election_timer();
  note(log_line::level::info, "pre-campaigning for term ", next_term(term_));
  for (auto v : voters())
    if (v != cfg_.self)
      send(v, vote_request{next_term(term_), log_.last_index(),
                           log_.last_term(), true, false});
  tally_vote(cfg_.self, true);
}

void core::become_candidate(bool transfer) {
  role_ = raft::role::candidate;
  term_ = next_term(term_);
  vote_ = node_id{};
  fail_forwarded_reads();
  set_vote(cfg_.self);
  votes_.clear();
  set_leader(node_id{});
  reset_election_timer();
  note(log_line::level::info, "campaigning for term ", term_,
       transfer ? " (leadership transfer)" : "");
  // Requests go out once term and self-vote are durable: a node that crashed
  // before could otherwise vote twice in this term after restarting.
  for (auto v : voters())
    if (v != cfg_.self)
      send_after_persist(v, vote_request{term_, log_.last_index(),
                                         log_.last_term(), false, transfer});
  tally_vote(cfg_.self, true);
}

void core::become_leader() {
  role_ = raft::role::leader;
  votes_.clear();
  set_leader(cfg_.self);
  peers_.clear();
  for (const auto& m : config().members)
    if (m.id != cfg_.self)
      peers_.emplace_back(m.id, log_.last_index(), cfg_.max_inflight_appends,
                          now_);
  heartbeat_elapsed_ = 0;
  transfer_target_ = node_id{};
  read_round_needed_ = false;
  note(log_line::level::info, "became leader at term ", term_);
  // §3.6.2 / §6.4: a no-op entry commits the entries of earlier terms and
  // lets ReadIndex know the commit index is current.
  auto index = plus(log_.last_index(), 1);
  log_.append(entry{term_, index, entry_type::noop, {}});
  stage_entries(index);
  broadcast_appends();
}

void core::campaign() {
  if (!may_campaign()) {
    reset_election_timer();
    return;
  }
  if (cfg_.pre_vote)
    become_pre_candidate();
  else
    become_candidate(false);
}

void core::reset_election_timer() {
  // §3.4: randomized in [T, 2T) to make split votes rare.
  auto t = static_cast<uint64_t>(cfg_.election_timeout_ticks);
  election_elapsed_ = 0;
  randomized_timeout_ = static_cast<int>(t + splitmix64(rng_state_) % t);
}

void core::set_leader(node_id leader) {
  if (leader == leader_)
    return;
  fail_forwarded_reads();
  leader_ = leader;
}

void core::set_vote(node_id candidate) {
  if (vote_ != node_id{} && vote_ != candidate)
    broken("second vote in term " + std::to_string(term_.value()));
  vote_ = candidate;
}

void core::abandon_leadership() {
  note(log_line::level::info, "stepping down at term ", term_);
  for (const auto& r : pending_reads_)
    finish_read(r, false);
  pending_reads_.clear();
  if (transfer_target_ != node_id{})
    abort_transfer("leadership lost");
  peers_.clear();
  read_round_needed_ = false;
}

bool core::in_lease() const noexcept {
  // §9.6 leader stickiness: a node that hears from a current leader does not
  // help others depose it. A leader relies on CheckQuorum to step down.
  if (role_ == raft::role::leader)
    return cfg_.check_quorum;
  return leader_ != node_id{}
         && election_elapsed_ < cfg_.election_timeout_ticks;
}

bool core::may_campaign() const noexcept {
  if (is_voter(cfg_.self))
    return true;
  // A leader that appended its own removal (§4.2.2) and lost leadership
  // before it committed may hold the most up-to-date log of the previous
  // configuration, whose voters then cannot elect anybody without it. As
  // long as the removal is not known committed, it may campaign among the
  // voters of its latest configuration (not counting itself, like a
  // leader that removed itself); if it wins it commits the removal and
  // hands over (maybe_leave).
  return !config_committed() && configs_.size() >= 2
         && configs_[configs_.size() - 2].second.is_voter(cfg_.self);
}

bool core::is_voter(node_id id) const noexcept {
  return config().is_voter(id);
}

size_t core::quorum() const noexcept {
  return config().voter_count() / 2 + 1;
}

// -- membership (§4) ---------------------------------------------------------

void core::track_configs(log_index from) {
  while (configs_.size() > 1 && configs_.back().first >= from)
    configs_.pop_back();
  for (auto i = std::max(from, log_.first_index()); i <= log_.last_index();
       i = plus(i, 1)) {
    const auto* e = log_.at(i);
    if (e->type != entry_type::config)
      continue;
    auto c = decode_configuration(e->data);
    if (!c || c->empty())
      broken("malformed configuration entry at index "
             + std::to_string(i.value()));
    configs_.emplace_back(i, std::move(*c));
  }
  config_changed();
}

void core::config_changed() {
  const auto& c = config();
  if (role_ == raft::role::leader) {
    peers_.erase(
      std::remove_if(peers_.begin(), peers_.end(),
                     [&](const progress& pr) { return !c.contains(pr.id()); }),
      peers_.end());
    for (const auto& m : c.members)
      if (m.id != cfg_.self && !find_progress(m.id))
        peers_.emplace_back(m.id, log_.last_index(), cfg_.max_inflight_appends,
                            now_);
    if (transfer_target_ != node_id{} && !c.is_voter(transfer_target_))
      abort_transfer("the target is no longer a voter");
  } else if (role_ != raft::role::follower && !may_campaign()) {
    note(log_line::level::info, "no longer a voter; ending the campaign");
    become_follower(term_, node_id{});
  }
}

void core::maybe_leave() {
  // §4.2.2: a leader that removed itself steps down once the change is
  // committed, handing over to the most up-to-date voter first.
  if (role_ != raft::role::leader || is_voter(cfg_.self) || !config_committed()
      || transfer_target_ != node_id{})
    return;
  progress* best = nullptr;
  for (auto& pr : peers_)
    if (is_voter(pr.id()) && (!best || pr.match() > best->match()))
      best = &pr;
  if (best && best->match() == log_.last_index()) {
    note(log_line::level::info,
         "removed from the configuration; handing "
         "over to ",
         best->id(), " and stepping down");
    send(best->id(), timeout_now{term_});
    become_follower(term_, node_id{});
    return;
  }
  if (!best) {
    become_follower(term_, node_id{});
    return;
  }
  // Catch the best one up first (§3.10); tick_leader steps down if that
  // takes longer than an election timeout.
  note(log_line::level::info, "removed from the configuration; catching ",
       best->id(), " up before handing over");
  transfer_target_ = best->id();
  transfer_elapsed_ = 0;
  send_appends(*best);
}

// -- time --------------------------------------------------------------------

void core::tick_election() {
  if (++election_elapsed_ < randomized_timeout_)
    return;
  note(log_line::level::info, "election timeout at term ", term_);
  campaign();
}

void core::tick_leader() {
  if (cfg_.check_quorum && !quorum_active()) {
    note(log_line::level::warning, "CheckQuorum: no majority heard within ",
         cfg_.election_timeout_ticks, " ticks; stepping down");
    become_follower(term_, node_id{});
    return;
  }
  if (transfer_target_ != node_id{}
      && ++transfer_elapsed_ >= cfg_.election_timeout_ticks) {
    abort_transfer("timed out");
    if (!is_voter(cfg_.self)) {
      become_follower(term_, node_id{});
      return;
    }
  }
  maybe_leave();
  if (role_ != raft::role::leader)
    return;
  auto retry = static_cast<uint64_t>(cfg_.snapshot_retry_ticks);
  for (auto& pr : peers_) {
    if (pr.state() == progress_state::snapshot
        && now_ - pr.snapshot_sent_at() >= retry) {
      note(log_line::level::info, "snapshot to ", pr.id(),
           " unanswered; retrying");
      pr.become_probe();
      send_appends(pr);
    }
  }
  if (++heartbeat_elapsed_ >= cfg_.heartbeat_interval_ticks)
    broadcast_heartbeat();
}

bool core::quorum_active() const {
  auto window = static_cast<uint64_t>(cfg_.election_timeout_ticks);
  size_t active = is_voter(cfg_.self) ? 1 : 0;
  for (const auto& pr : peers_)
    if (is_voter(pr.id()) && pr.active(now_, window))
      ++active;
  return active >= quorum();
}

void core::expire_forwarded_reads() {
  auto window = static_cast<uint64_t>(cfg_.election_timeout_ticks);
  while (!forwarded_reads_.empty()
         && now_ - forwarded_reads_.front().sent_at >= window) {
    out_.failed_reads.push_back(forwarded_reads_.front().id);
    forwarded_reads_.pop_front();
  }
}

// -- messages ----------------------------------------------------------------

bool core::accept_term(const message& msg) {
  auto term = std::visit([](const auto& body) { return body.term; }, msg.body);
  if (term < term_) {
    reply_stale(msg);
    return false;
  }
  if (term == term_)
    return true;
  if (auto req = std::get_if<vote_request>(&msg.body)) {
    if (req->pre_vote)
      return true; // asks without changing anybody's term (§9.6)
    if (!req->leadership_transfer && in_lease()) {
      note(log_line::level::info, "ignoring vote_request of ", msg.from,
           " for term ", term, ": current leader heard recently");
      return false;
    }
  }
  if (auto resp = std::get_if<vote_response>(&msg.body))
    if (resp->pre_vote && resp->granted)
      return true; // carries the term we asked about, not the voter's
  bool from_leader = std::holds_alternative<append_request>(msg.body)
                     || std::holds_alternative<install_snapshot>(msg.body)
                     || std::holds_alternative<timeout_now>(msg.body);
  note(log_line::level::info, name_of(msg.body), " from ", msg.from,
       " has term ", term, " > ", term_, ": becoming follower");
  become_follower(term, from_leader ? msg.from : node_id{});
  return true;
}

void core::reply_stale(const message& msg) {
  // §3.3: a stale request is rejected; the answer carries our term so that
  // the sender (e.g. a deposed leader, §6.2) steps down.
  note(log_line::level::debug, "rejecting stale ", name_of(msg.body), " from ",
       msg.from);
  if (auto req = std::get_if<append_request>(&msg.body))
    send_after_persist(
      msg.from,
      append_response{
        term_, false, req->prev_log_index, {}, {}, req->read_context});
  else if (std::holds_alternative<install_snapshot>(msg.body))
    send_after_persist(msg.from, install_snapshot_response{term_, {}, false});
  else if (auto vreq = std::get_if<vote_request>(&msg.body))
    send(msg.from, vote_response{term_, false, vreq->pre_vote});
  else if (auto rreq = std::get_if<read_index_request>(&msg.body))
    send(msg.from, read_index_response{term_, rreq->read_id, {}, false});
}

void core::on(node_id from, const vote_request& req) {
  // §3.6.1: grant only to a log at least as up to date as ours.
  bool up_to_date = req.last_log_term > log_.last_term()
                    || (req.last_log_term == log_.last_term()
                        && req.last_log_index >= log_.last_index());
  bool can_vote = vote_ == from || (vote_ == node_id{} && leader_ == node_id{})
                  || (req.pre_vote && req.term > term_);
  if (!req.leadership_transfer && in_lease())
    can_vote = false;
  bool grant = can_vote && up_to_date;
  note(log_line::level::info, grant ? "granting " : "rejecting ",
       req.pre_vote ? "pre-vote" : "vote", " to ", from, " for term ",
       req.term);
  if (req.pre_vote) {
    send(from, vote_response{grant ? req.term : term_, grant, true});
    return;
  }
  if (grant) {
    set_vote(from);
    election_elapsed_ = 0;
  }
  send_after_persist(from, vote_response{term_, grant, false});
}

void core::on(node_id from, const vote_response& resp) {
  if (role_ == raft::role::pre_candidate) {
    if (!resp.pre_vote
        || resp.term != (resp.granted ? next_term(term_) : term_))
      return;
  } else if (role_ != raft::role::candidate || resp.pre_vote
             || resp.term != term_) {
    return;
  }
  tally_vote(from, resp.granted);
}

void core::tally_vote(node_id from, bool granted) {
  if (!is_voter(from))
    return;
  for (const auto& [voter, _] : votes_)
    if (voter == from)
      return;
  votes_.emplace_back(from, granted);
  size_t yes = 0;
  for (const auto& v : votes_)
    yes += v.second ? 1 : 0;
  size_t no = votes_.size() - yes;
  if (yes >= quorum()) {
    if (role_ == raft::role::pre_candidate)
      become_candidate(false);
    else
      become_leader();
  } else if (no > config().voter_count() - quorum()) {
    note(log_line::level::info, "lost the election for term ",
         role_ == raft::role::pre_candidate ? next_term(term_) : term_);
    become_follower(term_, node_id{});
  }
}

void core::on(node_id from, const append_request& req) {
  if (role_ == raft::role::leader)
    broken("two leaders in term " + std::to_string(term_.value()) + ": "
           + std::to_string(from.value()) + " sent an append_request");
  follow(from);
  handle_append(from, req);
}

void core::on(node_id from, const install_snapshot& req) {
  if (role_ == raft::role::leader)
    broken("two leaders in term " + std::to_string(term_.value()) + ": "
           + std::to_string(from.value()) + " sent install_snapshot");
  follow(from);
  handle_snapshot(from, req);
}

void core::follow(node_id leader) {
  if (role_ != raft::role::follower)
    become_follower(term_, leader);
  else
    set_leader(leader);
  election_elapsed_ = 0;
}

bool core::valid(const append_request& req) const {
  if (req.prev_log_term > req.term
      || (req.prev_log_index == log_index{} && req.prev_log_term != term_t{}))
    return false;
  auto index = req.prev_log_index;
  auto term = req.prev_log_term;
  for (const auto& e : req.entries) {
    index = plus(index, 1);
    if (e.index != index || e.term < term || e.term > req.term)
      return false;
    if (e.type == entry_type::config) {
      // A configuration without members would leave no voter (§4.1).
      auto c = decode_configuration(e.data);
      if (!c || c->empty())
        return false;
    }
    term = e.term;
  }
  return true;
}

void core::handle_append(node_id from, const append_request& req) {
  if (!valid(req)) {
    note(log_line::level::warning, "ignoring malformed append_request from ",
         from);
    return;
  }
  auto prev = req.prev_log_index;
  auto prev_term = req.prev_log_term;
  auto n = req.entries.size();
  auto match = plus(prev, n);
  size_t first = 0;
  if (prev < commit_) {
    // Entries up to our commit index are in every later leader's log
    // (Leader Completeness, §3.6.3): skip them.
    if (match <= commit_) {
      reply_append(from, true, commit_, req.read_context);
      return;
    }
    first = static_cast<size_t>(commit_.value() - prev.value());
    const auto& e = req.entries[first - 1];
    if (!log_.matches(e.index, e.term))
      broken("leader " + std::to_string(from.value())
             + " contradicts committed entry "
             + std::to_string(commit_.value()));
    prev = commit_;
    prev_term = e.term;
  }
  if (!log_.matches(prev, prev_term)) {
    reject_append(from, req);
    return;
  }
  if (auto written = log_.merge(prev, req.entries, first)) {
    if (*written <= commit_)
      broken("append overwrote committed entry "
             + std::to_string(written->value()));
    persisted_ = std::min(persisted_, minus1(*written));
    stage_entries(*written);
    track_configs(*written);
  }
  // §3.5: commit = min(leaderCommit, index of last new entry).
  auto commit = std::min(req.leader_commit, match);
  if (commit > commit_)
    commit_to(commit);
  reply_append(from, true, match, req.read_context);
}

void core::reject_append(node_id from, const append_request& req) {
  // Fast back-off hints (§5.3): our term at prev and where its run starts,
  // or our last index + 1 if we have nothing at prev.
  auto prev = req.prev_log_index;
  term_t conflict_term;
  log_index conflict_index;
  if (prev > log_.last_index()) {
    conflict_index = plus(log_.last_index(), 1);
  } else {
    conflict_term = *log_.term_at(prev);
    conflict_index = std::max(log_.first_index_of_term(conflict_term, prev),
                              plus(commit_, 1));
  }
  note(log_line::level::debug, "rejecting append at ", prev, " from ", from,
       " (conflict term ", conflict_term, ", index ", conflict_index, ")");
  send_after_persist(from, append_response{term_, false, prev, conflict_term,
                                           conflict_index, req.read_context});
}

void core::reply_append(node_id to, bool success, log_index match,
                        uint64_t read_context) {
  send_after_persist(
    to, append_response{term_, success, match, {}, {}, read_context});
}

void core::handle_snapshot(node_id from, const install_snapshot& req) {
  const auto& meta = req.meta;
  if (meta.index == log_index{} || meta.term > req.term || meta.config.empty()
      || !meta.config.validate().empty()) {
    note(log_line::level::warning, "rejecting malformed snapshot from ", from);
    send_after_persist(from, install_snapshot_response{term_, commit_, false});
    return;
  }
  if (meta.index <= commit_) {
    // Nothing new: acknowledge what is known to match the leader.
    send_after_persist(from, install_snapshot_response{term_, commit_, true});
    return;
  }
  // §5.3: keep the entries after the snapshot if they follow its last entry.
  bool keep = log_.matches(meta.index, meta.term);
  if (keep) {
    log_.compact(meta.index);
    persisted_ = std::max(persisted_, meta.index);
    while (!configs_.empty() && configs_.front().first <= meta.index)
      configs_.pop_front();
  } else {
    log_.reset(meta.index, meta.term);
    persisted_ = meta.index;
    configs_.clear();
  }
  configs_.emplace_front(meta.index, meta.config);
  note(log_line::level::info, "installing snapshot at ", meta.index, " from ",
       from, keep ? " (keeping the log after it)" : "");
  snapshot_ = meta;
  drop_staged_up_to(meta.index, !keep);
  out_.snapshot = meta;
  commit_ = meta.index;
  applied_ = meta.index; // the state machine loads the snapshot
  config_changed();
  send_after_persist(from, install_snapshot_response{term_, commit_, true});
}

void core::on(node_id from, const timeout_now&) {
  if (role_ != raft::role::follower || from != leader_) {
    note(log_line::level::debug, "ignoring timeout_now from ", from);
    return;
  }
  if (!may_campaign())
    return;
  // §3.10: campaign at once, skipping pre-vote, overriding stickiness.
  note(log_line::level::info, "timeout_now from leader ", from);
  become_candidate(true);
}

void core::on(node_id from, const read_index_request& req) {
  if (role_ != raft::role::leader
      || pending_reads_.size() >= cfg_.max_pending_reads) {
    send(from, read_index_response{term_, req.read_id, {}, false});
    return;
  }
  if (auto pr = find_progress(from))
    pr->heard(now_);
  register_read(req.read_id, from);
}

void core::on(node_id from, const read_index_response& resp) {
  auto i = std::find_if(forwarded_reads_.begin(), forwarded_reads_.end(),
                        [&](const forwarded_read& r) {
                          return r.id == resp.read_id && r.leader == from;
                        });
  if (i == forwarded_reads_.end())
    return; // expired or failed already
  forwarded_reads_.erase(i);
  if (resp.success)
    out_.reads.push_back(read_state{resp.read_id, resp.index});
  else
    out_.failed_reads.push_back(resp.read_id);
}

void core::on(node_id from, const append_response& resp) {
  if (role_ != raft::role::leader || !find_progress(from))
    return;
  auto& pr = *find_progress(from);
  pr.heard(now_);
  bool read_acked = resp.read_context > pr.read_acked();
  pr.ack_read(resp.read_context);
  if (resp.success) {
    if (resp.match_index > log_.last_index()) {
      note(log_line::level::warning, "ignoring append_response from ", from,
           " beyond our log");
      return;
    }
    bool advanced = pr.acknowledge(resp.match_index);
    if (pr.state() == progress_state::probe
        || (pr.state() == progress_state::snapshot
            && pr.match() >= pr.pending_snapshot()))
      pr.become_replicate();
    if (advanced)
      maybe_commit();
    // A leader that removed itself may hand over and step down in either
    // (§4.2.2): `pr` is gone with the trackers then.
    if (role_ != raft::role::leader)
      return;
    maybe_send_timeout_now(pr);
    if (role_ != raft::role::leader)
      return;
    send_appends(pr);
    // The commit may have moved on (by other acknowledgements) while this
    // follower could not accept it (it was told the commit at an older
    // match): tell it now, not with the next heartbeat. Otherwise a write
    // that came through this follower waits a heartbeat interval for it to
    // apply.
    if (std::min(commit_, pr.match()) > pr.commit_told())
      send_commit(pr);
  } else {
    auto rejected = resp.match_index;
    if (pr.reject(rejected, back_off_hint(resp, rejected))) {
      note(log_line::level::debug, from, " rejected ", rejected,
           "; probing at ", pr.next());
      send_appends(pr);
    }
  }
  if (read_acked)
    confirm_reads();
}

void core::on(node_id from, const install_snapshot_response& resp) {
  if (role_ != raft::role::leader || !find_progress(from))
    return;
  auto& pr = *find_progress(from);
  pr.heard(now_);
  if (!resp.success) {
    // Stay in snapshot state: the retry timer sends it again.
    note(log_line::level::warning, from, " rejected the snapshot");
    return;
  }
  if (resp.last_index > log_.last_index()) {
    note(log_line::level::warning, "ignoring install_snapshot_response from ",
         from, " beyond our log");
    return;
  }
  bool advanced = pr.acknowledge(resp.last_index);
  if (pr.state() == progress_state::snapshot)
    pr.become_replicate();
  if (advanced)
    maybe_commit();
  if (role_ != raft::role::leader)
    return; // handed over (§4.2.2); `pr` is gone
  maybe_send_timeout_now(pr);
  if (role_ != raft::role::leader)
    return;
  send_appends(pr);
}

// -- replication (§3.5, leader) ----------------------------------------------

progress* core::find_progress(node_id id) noexcept {
  for (auto& pr : peers_)
    if (pr.id() == id)
      return &pr;
  return nullptr;
}

const progress* core::find_progress(node_id id) const noexcept {
  for (const auto& pr : peers_)
    if (pr.id() == id)
      return &pr;
  return nullptr;
}

bool core::send_append(progress& pr, bool allow_empty) {
  if (!pr.can_send())
    return false;
  auto prev = minus1(pr.next());
  auto prev_term = log_.term_at(prev);
  if (!prev_term) {
    send_snapshot(pr); // the entries it needs are compacted (§5)
    return false;
  }
  auto entries
    = log_.slice(pr.next(), cfg_.max_append_entries, cfg_.max_append_bytes);
  if (entries.empty() && !allow_empty)
    return false;
  bool has_entries = !entries.empty();
  auto last = has_entries ? entries.back().index : prev;
  send(pr.id(), append_request{term_, prev, *prev_term, std::move(entries),
                               commit_, read_round_});
  pr.sent(last, has_entries);
  pr.told_commit(std::min(commit_, last));
  return true;
}

void core::send_appends(progress& pr) {
  switch (pr.state()) {
    case progress_state::probe:
      send_append(pr, true);
      break;
    case progress_state::replicate:
      // Pipelining: bounded by the in-flight window.
      while (send_append(pr, false)) {
        // nop
      }
      break;
    case progress_state::snapshot:
      break;
  }
}

void core::broadcast_appends() {
  for (auto& pr : peers_)
    send_appends(pr);
}

void core::send_heartbeat(progress& pr) {
  // An empty append: it refreshes the follower's timer and carries the
  // commit index and the read round. Its prev is where the follower surely
  // matches (its match index; 0, always accepted, if that term is compacted
  // or a snapshot is on its way), except when the follower must answer a
  // question: in probe state it re-asks the probe at next - 1 (the probe may
  // be lost); in replicate state, if no append was acknowledged during a
  // whole heartbeat interval, it asks for next - 1, and a rejection says the
  // appends in flight were lost (back to probing).
  bool ask = pr.state() == progress_state::probe
             || (pr.state() == progress_state::replicate && pr.stalled());
  pr.heartbeat_sent();
  log_index prev;
  term_t prev_term;
  if (ask) {
    auto p = minus1(pr.next());
    auto t = log_.term_at(p);
    if (!t) {
      // Compacted meanwhile: probe from its match (a snapshot if that is
      // compacted too).
      pr.become_probe();
      send_appends(pr);
      return;
    }
    prev = p;
    prev_term = *t;
  } else if (pr.state() == progress_state::replicate) {
    if (auto t = log_.term_at(pr.match())) {
      prev = pr.match();
      prev_term = *t;
    }
  }
  send(pr.id(),
       append_request{term_, prev, prev_term, {}, commit_, read_round_});
  pr.told_commit(std::min(commit_, prev));
}

void core::send_commit(progress& pr) {
  // Tells the follower the new commit index: with the next append if there
  // is one, else with an empty one at its match point (which it holds).
  if (pr.state() == progress_state::snapshot || send_append(pr, false))
    return;
  if (auto t = log_.term_at(pr.match())) {
    send(pr.id(),
         append_request{term_, pr.match(), *t, {}, commit_, read_round_});
    pr.told_commit(std::min(commit_, pr.match()));
  }
}

void core::broadcast_heartbeat() {
  ++read_round_;
  read_round_needed_ = false;
  heartbeat_elapsed_ = 0;
  for (auto& pr : peers_)
    send_heartbeat(pr);
}

void core::send_snapshot(progress& pr) {
  if (snapshot_.index < log_.base_index())
    broken("compacted beyond the latest snapshot");
  note(log_line::level::info, "sending snapshot at ", snapshot_.index, " to ",
       pr.id());
  pr.become_snapshot(snapshot_.index, now_);
  send(pr.id(), install_snapshot{term_, snapshot_});
  auto& list = out_.snapshot_for;
  if (std::find(list.begin(), list.end(), pr.id()) == list.end())
    list.push_back(pr.id());
}

log_index core::back_off_hint(const append_response& resp,
                              log_index rejected) const {
  // §5.3: skip the follower's whole conflicting term at once: after our last
  // entry of that term if we have it, else to where its run starts.
  if (resp.conflict_term != term_t{})
    if (auto i = log_.last_index_of_term(resp.conflict_term, rejected))
      return plus(*i, 1);
  return resp.conflict_index;
}

void core::maybe_send_timeout_now(const progress& pr) {
  if (transfer_target_ != pr.id() || pr.match() != log_.last_index())
    return;
  note(log_line::level::info, pr.id(), " is caught up; sending timeout_now");
  send(pr.id(), timeout_now{term_});
  if (!is_voter(cfg_.self) && config_committed())
    become_follower(term_, node_id{}); // §4.2.2: removed; hand-over done
}

void core::abort_transfer(const char* why) {
  note(log_line::level::info, "leadership transfer to ", transfer_target_,
       " aborted: ", why);
  transfer_target_ = node_id{};
  transfer_elapsed_ = 0;
}

// -- commit, apply, reads ----------------------------------------------------

void core::maybe_commit() {
  if (role_ != raft::role::leader)
    return;
  // Counted over the voters of the latest configuration (§4.1); a leader
  // that removed itself does not count itself (§4.2.2).
  std::vector<log_index> matches;
  matches.reserve(peers_.size() + 1);
  if (is_voter(cfg_.self))
    matches.push_back(std::min(persisted_, log_.last_index()));
  for (const auto& pr : peers_)
    if (is_voter(pr.id()))
      matches.push_back(pr.match());
  if (matches.size() < quorum())
    return;
  std::sort(matches.begin(), matches.end(), std::greater<>{});
  auto index = matches[quorum() - 1];
  // §3.6.2: only entries of the current term commit by counting replicas.
  if (index <= commit_ || !log_.matches(index, term_))
    return;
  commit_to(index);
  for (auto& pr : peers_)
    send_commit(pr);
  maybe_leave();
}

void core::commit_to(log_index index) {
  commit_ = index;
  for (auto i = plus(applied_, 1); i <= commit_; i = plus(i, 1))
    out_.committed.push_back(*log_.at(i));
  applied_ = commit_;
  if (role_ != raft::role::leader || !committed_in_term())
    return;
  for (auto& r : pending_reads_)
    if (!r.index)
      r.index = commit_;
  confirm_reads();
}

bool core::committed_in_term() const noexcept {
  return log_.matches(commit_, term_);
}

void core::register_read(uint64_t id, node_id origin) {
  // §6.4: the read index is the commit index now, once this leader has
  // committed an entry of its term; it is safe once a majority acknowledged
  // a heartbeat round sent after this point.
  pending_read r{id, origin, read_round_ + 1, std::nullopt};
  if (committed_in_term())
    r.index = commit_;
  pending_reads_.push_back(r);
  // A round is needed unless this leader alone is a majority (a leader
  // that removed itself, §4.2.2, is not part of any).
  if (quorum() > 1 || !is_voter(cfg_.self))
    read_round_needed_ = true;
  confirm_reads();
}

uint64_t core::quorum_read_round() const {
  std::vector<uint64_t> rounds;
  rounds.reserve(peers_.size() + 1);
  if (is_voter(cfg_.self))
    rounds.push_back(std::numeric_limits<uint64_t>::max());
  for (const auto& pr : peers_)
    if (is_voter(pr.id()))
      rounds.push_back(pr.read_acked());
  if (rounds.size() < quorum())
    return 0;
  std::sort(rounds.begin(), rounds.end(), std::greater<>{});
  return rounds[quorum() - 1];
}

void core::confirm_reads() {
  auto acked = quorum_read_round();
  while (!pending_reads_.empty()) {
    const auto& r = pending_reads_.front();
    if (!r.index || r.round > acked)
      break;
    finish_read(r, true);
    pending_reads_.pop_front();
  }
}

void core::finish_read(const pending_read& read, bool ok) {
  if (read.origin == cfg_.self) {
    if (ok)
      out_.reads.push_back(read_state{read.id, *read.index});
    else
      out_.failed_reads.push_back(read.id);
    return;
  }
  send(read.origin,
       read_index_response{term_, read.id, ok ? *read.index : log_index{}, ok});
}

void core::fail_forwarded_reads() {
  for (const auto& r : forwarded_reads_)
    out_.failed_reads.push_back(r.id);
  forwarded_reads_.clear();
}

// -- output ------------------------------------------------------------------

void core::send(node_id to, message_body body) {
  out_.messages.push_back(message{cfg_.self, to, std::move(body)});
}

void core::send_after_persist(node_id to, message_body body) {
  out_.messages_after_persist.push_back(
    message{cfg_.self, to, std::move(body)});
}

void core::stage_entries(log_index from) {
  // Keeps out_.entries a contiguous run; a lower first index overwrites.
  auto& staged = out_.entries;
  if (!staged.empty() && from <= staged.back().index) {
    if (from <= staged.front().index)
      staged.clear();
    else
      staged.resize(from.value() - staged.front().index.value());
  }
  if (!staged.empty() && plus(staged.back().index, 1) != from)
    broken("staged entries would not be contiguous");
  for (auto i = from; i <= log_.last_index(); i = plus(i, 1))
    staged.push_back(*log_.at(i));
}

void core::drop_staged_up_to(log_index index, bool all) {
  auto& staged = out_.entries;
  if (all)
    staged.clear();
  else
    staged.erase(
      std::remove_if(staged.begin(), staged.end(),
                     [&](const entry& e) { return e.index <= index; }),
      staged.end());
  auto& committed = out_.committed;
  committed.erase(
    std::remove_if(committed.begin(), committed.end(),
                   [&](const entry& e) { return e.index <= index; }),
    committed.end());
}

hard_state core::current_hard_state() const noexcept {
  // The stored commit index never covers entries that are not durable yet:
  // a shell may write the hard state before the entries, and a crash in
  // between must not make a restart apply entries that the unwritten ones
  // were to overwrite.
  return hard_state{term_, vote_, std::min(commit_, persisted_)};
}

template <class... Ts>
void core::note(log_line::level severity, const Ts&... xs) {
  std::ostringstream text;
  text << cfg_.self << ": ";
  (text << ... << xs);
  out_.log.push_back(log_line{severity, text.str()});
}

void core::broken(const std::string& what) const {
  std::fprintf(stderr, "raft core %llu: broken invariant: %s\n",
               static_cast<unsigned long long>(cfg_.self.value()),
               what.c_str());
  std::abort();
}

// -- invariants --------------------------------------------------------------

void core::check_invariants() const {
  auto require = [this](bool ok, const char* what) {
    if (!ok)
      broken(what);
  };
  require(term_ >= checked_term_, "term went back");
  require(term_ != checked_term_ || checked_vote_ == node_id{}
            || vote_ == checked_vote_,
          "vote changed within a term");
  require(commit_ >= checked_commit_, "commit index went back");
  log_.check();
  auto last = log_.last_index();
  auto base = log_.base_index();
  require(commit_ <= last, "commit index beyond the log");
  require(commit_ >= base, "commit index below the compaction point");
  require(applied_ == commit_, "committed entries not handed out");
  require(snapshot_.index >= base && snapshot_.index <= commit_,
          "snapshot outside [compaction point, commit]");
  require(persisted_ >= base && persisted_ <= last,
          "persisted index outside the log");
  require(log_.last_term() <= term_, "log term beyond the current term");
  require(may_campaign() || role_ == raft::role::follower
            || role_ == raft::role::leader,
          "non-voter campaigning");
  require(!configs_.empty() && configs_.front().first <= base
            && configs_.back().first <= last,
          "configurations outside the log");
  for (size_t k = 1; k < configs_.size(); ++k) {
    require(configs_[k - 1].first < configs_[k].first,
            "configurations out of order");
    auto e = log_.at(configs_[k].first);
    require(e && e->type == entry_type::config,
            "configuration without its entry");
  }
  require(snapshot_.config.voter_count() > 0 || snapshot_.config.empty(),
          "snapshot configuration without voters");
  if (role_ == raft::role::leader) {
    require(leader_ == cfg_.self, "leader does not know itself as leader");
    require(vote_ == cfg_.self, "leader did not vote for itself");
    require(log_.last_term() == term_, "leader's log does not end in its term");
    require(peers_.size() + (config().contains(cfg_.self) ? 1 : 0)
              == config().members.size(),
            "tracker size");
    for (const auto& pr : peers_)
      require(config().contains(pr.id()), "tracker of a non-member");
    for (const auto& pr : peers_)
      pr.check(last);
    require(pending_reads_.size() <= cfg_.max_pending_reads, "too many reads");
    require(forwarded_reads_.empty(), "leader with forwarded reads");
  } else {
    require(peers_.empty(), "non-leader keeps trackers");
    require(pending_reads_.empty(), "non-leader keeps ReadIndex reads");
    require(transfer_target_ == node_id{}, "non-leader transferring");
    require(forwarded_reads_.size() <= cfg_.max_pending_reads,
            "too many forwarded reads");
  }
  if (role_ == raft::role::candidate)
    require(vote_ == cfg_.self, "candidate did not vote for itself");
  if (role_ == raft::role::candidate || role_ == raft::role::pre_candidate)
    require(leader_ == node_id{}, "candidate knows a leader");
  require(randomized_timeout_ >= cfg_.election_timeout_ticks
            && randomized_timeout_ < 2 * cfg_.election_timeout_ticks,
          "randomized timeout outside [T, 2T)");
  checked_term_ = term_;
  checked_vote_ = vote_;
  checked_commit_ = commit_;
}

} // namespace conclave::raft
