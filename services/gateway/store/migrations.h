#pragma once

// The gateway's PostgreSQL schema (`gateway`), as versioned migrations
// (services/common/pg/migrations.h), applied by hie-gateway at start when --pg-dsn is given.
// Only the gateway reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::gateway {

inline constexpr char kSchema[] = "gateway";

std::span<const pg::Migration> Migrations();

}  // namespace hie::gateway
