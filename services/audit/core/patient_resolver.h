#pragma once

// What the audit log asks identity: a patient's records as they are linked NOW, so that a search
// or an accounting for a patient covers every record of the person today (not a person id that
// a merge or unmerge has since made stale). api/identity_client.h implements it over gRPC.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hie/common/v1/common.pb.h"

namespace hie::audit {

class PatientResolver {
 public:
  virtual ~PatientResolver() = default;
  // Every source id linked to the same person as `id`, `id` included. NOT_FOUND when identity
  // does not know `id`; UNAVAILABLE when it cannot be asked.
  virtual absl::StatusOr<std::vector<hie::common::v1::SourceId>> LinkedRecords(
      const hie::common::v1::SourceId& id, absl::Time deadline) = 0;
  // Every source id linked to `person_id` now (a merged person's survivor's). NOT_FOUND when
  // there is no such person.
  virtual absl::StatusOr<std::vector<hie::common::v1::SourceId>> RecordsOfPerson(
      const std::string& person_id, absl::Time deadline) = 0;
};

}  // namespace hie::audit
