#include "actors/custom_actor.hpp"

namespace conclave {

void actor_registry::add(std::string name, actor_type type) {
  types_[std::move(name)] = std::move(type);
}

const actor_type* actor_registry::find(const std::string& name) const {
  auto i = types_.find(name);
  return i != types_.end() ? &i->second : nullptr;
}

std::vector<std::string> actor_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, type] : types_)
    out.push_back(name);
  return out;
}

} // namespace conclave
