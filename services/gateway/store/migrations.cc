#include "services/gateway/store/migrations.h"

#include <vector>

namespace hie::gateway {
namespace {

// Version 1: the member directory (PgMemberStore is the only reader and writer).
//
// members: one row per member org, the fields of core/member_directory.h DirectoryMember in
// columns an operator can read with psql: state 'active' | 'suspended' | 'decommissioned';
// certificate_subjects newline-separated (subjects hold no control characters), '' for none;
// version 1 when created, +1 per change (AdminGateway's expected_version); update_ns the last
// change, unix nanoseconds. A row whose fields break the directory's rules is skipped (logged
// with its org), never fatal. Keys use the "C" collation (ListMembers orders by org bytes).
constexpr char kV1[] = R"sql(
CREATE TABLE gateway.members (
  org                   text COLLATE "C" PRIMARY KEY,
  display_name          text NOT NULL,
  endpoint              text NOT NULL,
  state                 text NOT NULL,
  max_results           integer NOT NULL,
  supports_time_filters boolean NOT NULL,
  certificate_subjects  text NOT NULL,
  version               bigint NOT NULL,
  update_ns             bigint NOT NULL
);
)sql";

}  // namespace

std::span<const pg::Migration> Migrations() {
  static const std::vector<pg::Migration> kMigrations = {
      {1, "member directory", kV1},
  };
  return kMigrations;
}

}  // namespace hie::gateway
