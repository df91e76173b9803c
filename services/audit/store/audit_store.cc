#include "services/audit/store/audit_store.h"

namespace hie::audit {

absl::Time MonthStart(absl::Time t) {
  absl::CivilSecond civil = absl::ToCivilSecond(t, absl::UTCTimeZone());
  return absl::FromCivil(absl::CivilMonth(civil), absl::UTCTimeZone());
}

}  // namespace hie::audit
