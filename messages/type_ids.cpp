#include "messages/type_ids.hpp"

namespace conclave {

void announce_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::conclave>();
}

} // namespace conclave
