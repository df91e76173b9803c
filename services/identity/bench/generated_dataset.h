#pragma once

// The benchmark data set of the identity service programs (hie-identity-bench,
// hie-identity-accuracy): records of hie::mpi::GeneratePopulation (5 clinics, fixed seed) and
// their mapping to hie.common.v1 messages as IdentityService expects them (the reverse of
// ToEngineRecord in services/identity/core/mpi_matcher.cc).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "hie/common/v1/common.pb.h"
#include "hie/mpi/generator.h"

namespace hie::identity::bench {

// The first `count` records of a generated population (5 orgs, about 1.8 records per person; or
// the named hie::mpi::ApplyGeneratorProfile profile, "diverse": 12 orgs, about 1.74), with the
// truth (person ids) and all the population's hard non-match pairs (some may name records beyond
// `count`). Deterministic in (seed, count, profile). Prints one line to stderr. An unknown
// profile is INVALID_ARGUMENT.
absl::StatusOr<hie::mpi::GeneratedPopulation> GenerateDataset(
    uint64_t seed, int64_t count, const std::string& profile = "default");

// The birth date as the service accepts it: ISO dates as given, other formats normalised with
// hie::mpi::ParseBirthDate ("YYYY" or "YYYY-MM" when only those parts are known), placeholders
// and unparseable dates as "".
std::string ServiceBirthDate(const std::string& raw);

// The record as a clinic would send it: names, sex, birth date (ServiceBirthDate), one home
// address, phone, e-mail, and the SSN as a NATIONAL_ID identifier.
hie::common::v1::Demographics ToDemographics(const hie::mpi::Record& r);
hie::common::v1::SourceId SourceIdOf(const hie::mpi::Record& r);

}  // namespace hie::identity::bench
