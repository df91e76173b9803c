#pragma once

// The audit service's PostgreSQL schema, as versioned migrations (see
// services/common/pg/migrations.h). Only the audit service reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::audit {

inline constexpr char kSchema[] = "audit";

std::span<const pg::Migration> Migrations();

}  // namespace hie::audit
