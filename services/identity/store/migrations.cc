#include "services/identity/store/migrations.h"

#include <vector>

namespace hie::identity {

std::span<const pg::Migration> Migrations() {
  // The identity tables (source records, persons, links, review tasks, history) arrive with the
  // identity API (issue 4). Until then the schema holds only its migration ledger.
  static const std::vector<pg::Migration> kMigrations = {};
  return kMigrations;
}

}  // namespace hie::identity
