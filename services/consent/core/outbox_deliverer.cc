#include "services/consent/core/outbox_deliverer.h"

#include <vector>

#include "absl/strings/str_cat.h"

namespace hie::consent {

DeliveryReport OutboxDeliverer::DeliverOnce(absl::Time deadline) {
  DeliveryReport report;
  while (sink_ != nullptr && absl::Now() < deadline) {
    absl::StatusOr<size_t> marked = store_->DeliverOutbox(
        deadline, batch_size_, [&](const std::vector<OutboxRow>& rows) -> absl::Status {
          std::vector<hie::audit::v1::AuditEvent> events(rows.size());
          for (size_t i = 0; i < rows.size(); ++i) {
            if (!events[i].ParseFromString(rows[i].event)) {
              // Written by this service, so never expected; it blocks the queue (order is kept)
              // and is reported by id until an operator deals with it.
              return absl::DataLossError(
                  absl::StrCat("outbox row ", rows[i].sequence, " is unreadable"));
            }
          }
          return sink_->RecordBatch(events, deadline);
        });
    if (!marked.ok()) {
      report.status = marked.status();
      break;
    }
    report.delivered += *marked;
    if (*marked < batch_size_) break;
  }
  absl::StatusOr<int64_t> backlog = store_->OutboxBacklog(deadline);
  if (backlog.ok()) {
    report.backlog = *backlog;
  } else if (report.status.ok()) {
    report.status = backlog.status();
  }
  return report;
}

}  // namespace hie::consent
