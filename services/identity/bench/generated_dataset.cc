#include "services/identity/bench/generated_dataset.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "hie/mpi/normalize.h"
#include "services/common/demographics.h"
#include "services/identity/core/identity_manager.h"

namespace hie::identity::bench {
namespace {

namespace common = ::hie::common::v1;

}  // namespace

absl::StatusOr<hie::mpi::GeneratedPopulation> GenerateDataset(uint64_t seed, int64_t count,
                                                              const std::string& profile) {
  auto start = std::chrono::steady_clock::now();
  hie::mpi::GeneratorOptions options;
  options.seed = seed;
  options.orgs = 5;
  if (profile != "default" && !hie::mpi::ApplyGeneratorProfile(profile, options)) {
    return absl::InvalidArgumentError("unknown generator profile (default, diverse)");
  }
  // About 1.95 records per person with the defaults; generate a little more and cut.
  options.persons = std::max<int64_t>(16, static_cast<int64_t>(count * 0.55));
  hie::mpi::GeneratedPopulation population = hie::mpi::GeneratePopulation(options);
  while (static_cast<int64_t>(population.records.size()) < count) {
    options.persons = options.persons * 5 / 4 + 16;
    population = hie::mpi::GeneratePopulation(options);
  }
  population.records.resize(static_cast<size_t>(count));
  std::fprintf(stderr,
               "dataset: %" PRId64 " records of %" PRId64 " generated persons (seed %" PRIu64
               ", profile %s), generated in %.1f s\n",
               count, options.persons, seed, profile.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return population;
}

std::string ServiceBirthDate(const std::string& raw) {
  if (raw.empty()) return "";
  if (IsValidDate(raw)) return raw;  // the service accepts it as sent
  hie::mpi::BirthDate d = hie::mpi::ParseBirthDate(raw);
  if (d.year == 0) return "";
  char buf[32];
  if (d.month == 0) {
    std::snprintf(buf, sizeof buf, "%04d", d.year);
  } else if (d.day == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d", d.year, d.month);
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", d.year, d.month, d.day);
  }
  std::string out = buf;
  return IsValidDate(out) ? out : "";
}

common::Demographics ToDemographics(const hie::mpi::Record& r) {
  common::Demographics d;
  d.mutable_name()->set_given(r.given_name);
  d.mutable_name()->set_middle(r.middle_name);
  d.mutable_name()->set_family(r.family_name);
  switch (hie::mpi::ParseSex(r.sex)) {
    case hie::mpi::Sex::kFemale:
      d.set_sex(common::SEX_FEMALE);
      break;
    case hie::mpi::Sex::kMale:
      d.set_sex(common::SEX_MALE);
      break;
    default:
      break;
  }
  d.set_birth_date(ServiceBirthDate(r.birth_date));
  if (!r.address_line.empty() || !r.city.empty() || !r.state.empty() || !r.postal_code.empty()) {
    common::Address* a = d.add_addresses();
    if (!r.address_line.empty()) a->add_lines(r.address_line);
    a->set_city(r.city);
    a->set_state(r.state);
    a->set_postal_code(r.postal_code);
    a->set_use(common::Address::USE_HOME);
  }
  if (!r.phone.empty()) d.add_phones()->set_value(r.phone);
  if (!r.email.empty()) d.add_emails()->set_value(r.email);
  if (!r.ssn.empty()) {
    common::Identifier* id = d.add_identifiers();
    id->set_system(hie::kUsSsnSystem);
    id->set_value(r.ssn);
    id->set_type(common::Identifier::TYPE_NATIONAL_ID);
  }
  return d;
}

common::SourceId SourceIdOf(const hie::mpi::Record& r) {
  common::SourceId id;
  id.set_org(r.org);
  id.set_local_id(r.local_id);
  return id;
}

}  // namespace hie::identity::bench
