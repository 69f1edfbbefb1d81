#include "runtime/supervision_plan.hpp"

#include <algorithm>

namespace conclave {

std::optional<size_t> supervision_plan::index_of(std::string_view name) const {
  for (size_t i = 0; i < children_.size(); ++i)
    if (children_[i].name == name)
      return i;
  return std::nullopt;
}

bool supervision_plan::add(child_spec spec) {
  if (spec.name.empty() || index_of(spec.name))
    return false;
  for (const auto& dep : spec.depends_on)
    if (!index_of(dep))
      return false;
  children_.push_back(std::move(spec));
  return true;
}

const child_spec* supervision_plan::find(std::string_view name) const {
  auto i = index_of(name);
  return i ? &children_[*i] : nullptr;
}

std::vector<std::string>
supervision_plan::restart_set(std::string_view failed) const {
  auto first = index_of(failed);
  if (!first)
    return {};
  std::vector<bool> marked(children_.size(), false);
  marked[*first] = true;
  const auto& group = children_[*first].group;
  if (!group.empty())
    for (size_t i = 0; i < children_.size(); ++i)
      if (children_[i].group == group)
        marked[i] = true;
  // Dependencies point backwards, so one pass in start order reaches every
  // transitive dependent.
  for (size_t i = 0; i < children_.size(); ++i) {
    if (marked[i])
      continue;
    for (const auto& dep : children_[i].depends_on)
      if (marked[*index_of(dep)]) {
        marked[i] = true;
        break;
      }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < children_.size(); ++i)
    if (marked[i])
      out.push_back(children_[i].name);
  return out;
}

std::string supervision_plan::policy_of(std::string_view name) const {
  auto set = restart_set(name);
  if (set.size() <= 1)
    return "one-for-one";
  if (auto spec = find(name); spec && !spec->group.empty())
    return "one-for-all (" + spec->group + ")";
  return "rest-for-one";
}

supervision_plan
supervision_plan::for_node(bool admin_server,
                           const std::vector<std::string>& custom_actors) {
  supervision_plan plan;
  plan.add({"registry", {}, "core"});
  plan.add({"storage", {}, "core"});
  plan.add({"log", {"registry", "storage"}, "core"});
  // The log actor and the session actor learn of a new election actor from
  // the supervisor; the election actor holds the log's handle.
  plan.add({"election", {"log"}, {}});
  plan.add({"session", {"registry", "log"}, {}});
  plan.add({"zk", {"session", "log", "registry"}, {}});
  if (admin_server)
    plan.add({"admin", {"session", "zk"}, {}});
  // Custom actors reach the node through a client actor of their own,
  // which finds the new session actor by itself.
  for (const auto& name : custom_actors)
    plan.add({name, {}, {}});
  return plan;
}

} // namespace conclave
