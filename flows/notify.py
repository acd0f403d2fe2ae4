"""Failure notices: a Prefect notification block plus an automation that uses it.

`shiftwatch notify setup --slack-webhook URL` (or `--webhook URL`, or `--email ADDR
--sendgrid-api-key KEY`) saves one notification block and one automation on the Prefect
server: whenever a `monitor` or `digest` flow run ends Failed, Crashed or TimedOut, the
server itself sends the notice. Nothing in shiftwatch has to be running for that, so a run
that died with its process is reported too. Re-running the command replaces both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.automations import (
    Automation,
    AutomationCore,
    EventTrigger,
    Posture,
    SendNotification,
)
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    SendgridEmail,
    SlackWebhook,
)
from prefect.client.orchestration import get_client

from shiftwatch.errors import ConfigError

BLOCK_NAME = "shiftwatch-failures"
AUTOMATION_NAME = "shiftwatch: flow run failed"
WATCHED_FLOWS = ("monitor", "digest")
FAILED_STATES = ("Failed", "Crashed", "TimedOut")

# Jinja templates rendered by the Prefect server when the automation fires.
SUBJECT = "shiftwatch: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}"
BODY = (
    "Flow run {{ flow_run.name }} of {{ flow.name }} entered {{ flow_run.state.name }} "
    "at {{ flow_run.state.timestamp }}.\n"
    "Message: {{ flow_run.state.message }}\n"
    "Parameters: {{ flow_run.parameters }}\n"
    "{{ flow_run|ui_url }}"
)


@dataclass(frozen=True, kw_only=True)
class NoticeTarget:
    """Where failure notices go: exactly one of Slack, a JSON webhook, or email via SendGrid."""

    slack_webhook: str | None = None
    webhook: str | None = None
    email: Sequence[str] = ()
    sendgrid_api_key: str | None = None
    email_from: str | None = None


def notification_block(target: NoticeTarget) -> NotificationBlock:
    """Return the Prefect notification block for `target`; ConfigError when it is ambiguous."""
    chosen = [bool(target.slack_webhook), bool(target.webhook), bool(target.email)]
    if sum(chosen) != 1:
        raise ConfigError("give exactly one of --slack-webhook, --webhook or --email")
    if target.slack_webhook:
        _require_http(target.slack_webhook, "--slack-webhook")
        return SlackWebhook(url=target.slack_webhook, notify_type="failure")
    if target.webhook:
        _require_http(target.webhook, "--webhook")
        # Slack-compatible JSON ({"text": ...}); most chat and mail gateways accept it.
        return CustomWebhookNotificationBlock(
            name=BLOCK_NAME,
            url=target.webhook,
            json_data={
                "text": "{{subject}}\n{{body}}",
                "subject": "{{subject}}",
                "body": "{{body}}",
            },
        )
    if not target.sendgrid_api_key or not target.email_from:
        raise ConfigError(
            "--email needs --sendgrid-api-key and --email-from (Prefect's "
            "email block sends through SendGrid; for SMTP use --webhook)"
        )
    return SendgridEmail(
        api_key=target.sendgrid_api_key,
        sender_email=target.email_from,
        to_emails=list(target.email),
        notify_type="failure",
    )


def _require_http(url: str, option: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{option} must be an http(s) URL")


def failure_automation(block_document_id: UUID, flows: Sequence[str] = WATCHED_FLOWS) -> Automation:
    """Return the automation that sends a notice when a run of `flows` fails or crashes."""
    return Automation(
        name=AUTOMATION_NAME,
        description="Tell operators when a shiftwatch flow run fails, crashes or times out.",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in FAILED_STATES},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": list(flows)},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=SUBJECT, body=BODY)],
    )


def setup_failure_notices(target: NoticeTarget) -> tuple[UUID, UUID]:
    """Save the block and (re)create the automation; return (block id, automation id)."""
    block = notification_block(target)
    block_id = block.save(BLOCK_NAME, overwrite=True)
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(old.id)
        automation = failure_automation(block_id)
        automation_id = client.create_automation(
            AutomationCore(**automation.model_dump(exclude={"id"}))
        )
    return block_id, automation_id
