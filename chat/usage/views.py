"""The admin's usage report (with its CSV) and a person's own usage and budget page."""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse

from chat.usage import budgets, present, reports
from chat.usage.forms import ReportForm, chart_group
from chat.usage.models import UsageRecord

OWN_GROUPS = ("model", "day", "week", "month")


def admin_report(request: HttpRequest) -> HttpResponse:
    """Who spent what, on which model, in a date range: staff (admin_view) who may view the
    ledger."""
    if not request.user.has_perm("chat.view_usagerecord"):
        raise PermissionDenied
    form = ReportForm(_with_defaults(request, "user"))
    context = {
        **admin.site.each_context(request),
        "title": "Usage report",
        "opts": UsageRecord._meta,
        "form": form,
    }
    if not form.is_valid():
        return TemplateResponse(request, "admin/chat/usage_report.html", context, status=400)
    data = form.cleaned_data
    report = reports.build(data["since"], data["until"], data["group_by"])
    if request.GET.get("format") == "csv":
        return _csv(report)
    context.update(_shown(report, data))
    return TemplateResponse(request, "admin/chat/usage_report.html", context)


@login_required
def my_usage(request: HttpRequest) -> HttpResponse:
    """A person's own usage this month (or a range) and the budgets that apply to them."""
    form = ReportForm(_with_defaults(request, "model"), groups=OWN_GROUPS, default_group="model")
    context: dict = {"form": form, "budgets": budgets.statuses(request.user.pk)}
    if not form.is_valid():
        return render(request, "chat/usage.html", context, status=400)
    data = form.cleaned_data
    own = UsageRecord.objects.filter(user=request.user)
    report = reports.build(data["since"], data["until"], data["group_by"], queryset=own)
    context.update(_shown(report, data, queryset=own, links=False))
    return render(request, "chat/usage.html", context)


def _shown(report: reports.Report, data: dict, *, queryset=None, links: bool = True) -> dict:
    group = report.group_by if report.group_by in reports.PERIODS else None
    timeline = (
        report
        if group
        else reports.build(
            report.since, report.until, chart_group(report.since, report.until), queryset=queryset
        )
    )
    return {
        "report": report,
        "table": present.table(report),
        "chart": present.chart(timeline, data["metric"], links=links),
        "csv_query": _query(data, format="csv"),
        "links": links,
    }


def _with_defaults(request: HttpRequest, group_by: str) -> dict:
    """What was asked, over this month and the default grouping, so the form shows them."""
    first, last = reports.this_month()
    asked = {k: v for k, v in request.GET.items() if v}
    defaults = {"since": str(first), "group_by": group_by, "metric": "cost"}
    if "since" not in asked:  # a start alone ends at this month's end or on that day (the form)
        defaults["until"] = str(last)
    return {**defaults, **asked}


def _query(data: dict, **extra: str) -> str:
    values = {k: str(v) for k, v in data.items()}
    return urlencode({**values, **extra})


def _csv(report: reports.Report) -> HttpResponse:
    response = HttpResponse(present.to_csv(report), content_type="text/csv; charset=utf-8")
    name = f"usage-{report.since}-{report.until}-by-{report.group_by}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
