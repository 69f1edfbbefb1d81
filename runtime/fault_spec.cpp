#include "runtime/fault_spec.hpp"

#include <charconv>

namespace conclave {

std::optional<fault_spec> parse_fault(std::string_view text) {
  if (text == "throw")
    return fault_spec{fault_spec::kind::throw_exception, {}};
  if (text == "exit")
    return fault_spec{fault_spec::kind::exit, {}};
  constexpr std::string_view block = "block:";
  if (text.substr(0, block.size()) != block)
    return std::nullopt;
  auto digits = text.substr(block.size());
  long ms = 0;
  auto [end, ec]
    = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc{} || end != digits.data() + digits.size() || ms < 1
      || ms > 600000)
    return std::nullopt;
  return fault_spec{fault_spec::kind::block, std::chrono::milliseconds(ms)};
}

std::string to_string(const fault_spec& x) {
  switch (x.what) {
    case fault_spec::kind::throw_exception:
      return "throw";
    case fault_spec::kind::exit:
      return "exit";
    case fault_spec::kind::block:
      return "block:" + std::to_string(x.block_for.count());
  }
  return "?";
}

} // namespace conclave
