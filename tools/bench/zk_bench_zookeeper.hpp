// The ZooKeeper C client's header (libzookeeper-mt-dev), included in one
// place for conclave-bench: its C-isms must not trip the project's
// -Wall -Wextra -Werror, and relaxing the flags for every file is not an
// option. Include this instead of <zookeeper/zookeeper.h>.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <zookeeper/zookeeper.h>
#pragma GCC diagnostic pop
