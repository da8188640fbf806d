"""The pipeline board: columns of cards filtered by owner, team and close period, moves by drag and drop or by
each card's menu, closing with its date and amount (or reason), and an undo for a minute after a move."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from crm import services
from crm.categories import category_labels
from crm.forms import DealCloseForm, DealFilterForm, DealMoveForm
from crm.models import Deal, Pipeline, SavedViewScreen, Stage, StageKind
from crm.onboarding import onboarding_checklist, onboarding_needed
from crm.selectors import BoardColumn, board_for_member, deal_get_for_member
from crm.views_saved import saved_views_context
from vectoros.forms import UUIDChoiceField, apply_service_errors, limit_choices
from vectoros.http import WorkspaceRequest, render_screen, safe_next, workspace_view

UNDO_SECONDS = 60  # how long a move can be undone
_UNDO_SALT = "crm.board.undo"
BOARD_FILTERS = ("owner", "team", "close", "close_from", "close_to")


@dataclass(frozen=True)
class BoardCard:
    deal: Deal
    url: str
    amount_text: str
    close_text: str
    category_text: str = ""
    overdue: bool = False
    win_chance: int | None = None  # the scoring model's win chance in percent, when it has one

    def html(self, *, stage_uuid: str, move_options: SafeString, move_fields: SafeString | None) -> SafeString:
        """The card's `<li>`, built here rather than in the template: the board shows up to 150 cards, which took
        the template language ~13 ms of the page's ~37 ms of CPU (demo, DEBUG off), and take ~4.5 ms here; the
        markup is the same. `move_fields` (the hidden inputs every move form shares) is None for a member who
        cannot move deals."""
        deal = self.deal
        card = format_html(
            '<li class="card{}" data-deal="{}" data-title="{}" data-amount="{}"{}>'
            '<a class="card-title" href="{}">{}</a>'
            '<div class="card-meta"><span>{}</span><span class="card-amount">{} {}</span></div>'
            '<div class="card-meta"><span class="card-owner">{} · '
            '<span class="card-category" title="Forecast category">{}</span></span>{}</div>'
            '<div class="card-meta"><span class="card-close">{}</span>{}</div>',
            " overdue" if self.overdue else "", deal.uuid, deal.title, str(deal.amount),
            _DRAGGABLE if move_fields is not None else "",
            self.url, deal.title,
            (deal.company.name if deal.company else "") or "No company", deal.currency, self.amount_text,
            (deal.owner.display_name if deal.owner else "") or "Unassigned", self.category_text,
            format_html(_SCORE, self.win_chance) if self.win_chance is not None else "",
            self.close_text, _OVERDUE if self.overdue else "",
        )  # fmt: skip
        if move_fields is None:
            return card + _END_CARD
        move = format_html(
            '<form class="move" method="post" action="{}move/" hx-post="{}move/" hx-target="#board" '
            'hx-swap="outerHTML">{}<label class="visually-hidden" for="move-{}">Move {} to stage</label>'
            '<select name="stage" id="move-{}" data-current="{}">{}</select>'
            '<button type="submit" class="secondary small">Move</button></form>',
            self.url, self.url, move_fields, deal.uuid, deal.title, deal.uuid, stage_uuid, move_options,
        )  # fmt: skip
        return card + move + _END_CARD


_DRAGGABLE = mark_safe(' draggable="true"')
_SCORE = '<span class="card-score" title="The scoring model\'s win chance">{}% win</span>'
_OVERDUE = mark_safe('<span class="flag-overdue" title="Still open past its expected close date">Overdue</span>')
_END_CARD = mark_safe("</li>")


@dataclass(frozen=True)
class BoardColumnView:
    column: BoardColumn
    cards: list[BoardCard]
    cards_html: SafeString  # every card's <li>, in order


class BoardFilterForm(DealFilterForm):
    """The deal list's owner, team and close-period filters, and which pipeline to show."""

    pipeline = UUIDChoiceField(Pipeline.objects.none(), required=False, empty_label=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_choices(self, "pipeline", Pipeline.objects.for_workspace(self.workspace))


def _win_chances(workspace_id: int, deal_ids: list[int]) -> dict[int, float]:
    reader = settings.DEAL_WIN_CHANCE_READER
    if not reader or not deal_ids:
        return {}
    return import_string(reader)(workspace_id, deal_ids)  # type: ignore[no-any-return]


def _board_query(data: QueryDict) -> QueryDict:
    """Only the board's own filters, from a GET or from the move form's `board_query`."""
    query = QueryDict(mutable=True)
    for name in (*BOARD_FILTERS, "pipeline"):
        for value in data.getlist(name):
            if value:
                query.appendlist(name, value)
    return query


def _board_context(
    request: WorkspaceRequest, query: QueryDict, *, undo: dict[str, str] | None = None
) -> dict[str, Any]:
    """The board, with per-card strings prepared once: the page has up to 150 cards and must stay fast."""
    form = BoardFilterForm(query, scope=request.scope)
    valid = form.is_valid()
    today = request.workspace.today()
    pipeline = form.cleaned_data.get("pipeline") if valid else None
    board = board_for_member(request.scope, today=today, filters=form.filters() if valid else None, pipeline=pipeline)
    deals_url = reverse("crm:deal_list", args=[request.workspace.slug])
    labels = category_labels(request.workspace)
    chances = _win_chances(request.workspace.id, [d.id for column in board.columns for d in column.cards])
    move_fields = (
        format_html(
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}"><input type="hidden" name="from" value="board">'
            '<input type="hidden" name="board_query" value="{}"><input type="hidden" name="close_date" value="">'
            '<input type="hidden" name="amount" value=""><input type="hidden" name="lost_reason" value="">',
            get_token(request), query.urlencode(),
        )
        if request.membership.can_write
        else None
    )  # fmt: skip
    columns = []
    for column in board.columns:
        move_options = format_html_join(
            "",
            '<option value="{}" data-kind="{}"{}>{}</option>',
            ((s.uuid, s.kind, " selected" if s.id == column.stage.id else "", s.name) for s in board.stages),
        )
        cards = [
            BoardCard(
                deal=deal,
                url=f"{deals_url}{deal.uuid}/",
                amount_text=f"{deal.amount:,.0f}",
                close_text=f"closes {close:%b} {close.day}, {close.year}" if (close := deal.expected_close_date)
                else "no close date",
                category_text=labels.get(deal.forecast_category or column.stage.forecast_category, ""),
                overdue=deal.is_overdue(today),
                win_chance=round(100 * chances[deal.id]) if deal.id in chances else None,
            )
            for deal in column.cards
        ]  # fmt: skip
        stage_uuid = str(column.stage.uuid)
        cards_html = SafeString(  # each part is format_html's, every value in it escaped
            "".join(
                card.html(stage_uuid=stage_uuid, move_options=move_options, move_fields=move_fields) for card in cards
            )
        )
        columns.append(BoardColumnView(column=column, cards=cards, cards_html=cards_html))
    return {
        "board": board,
        "columns": columns,
        "filter_form": form,
        "board_query": query.urlencode(),
        "today": today,
        "can_write": request.membership.can_write,
        "undo": undo,
        "undo_seconds": UNDO_SECONDS,
        **saved_views_context(request.scope, SavedViewScreen.BOARD, query.urlencode()),
    }


def _undo_from_token(request: WorkspaceRequest, token: str) -> services.MoveUndo:
    try:
        payload = signing.loads(token, salt=_UNDO_SALT, max_age=UNDO_SECONDS)
    except signing.SignatureExpired:
        raise ValidationError("Too late to undo: a move can be undone for a minute.") from None
    except signing.BadSignature:
        raise ValidationError("That undo link is not valid.") from None
    if payload.pop("member", None) != request.membership.id:
        raise ValidationError("Only who moved the deal can undo the move.")
    return services.MoveUndo(**payload)


def _undo_offer(request: WorkspaceRequest, undo: services.MoveUndo, text: str) -> dict[str, str]:
    token = signing.dumps({**asdict(undo), "member": request.membership.id}, salt=_UNDO_SALT)
    return {"token": token, "text": text, "deal": undo.deal_uuid}


@require_GET
@workspace_view()
def board(request: WorkspaceRequest) -> HttpResponse:
    undo = None
    if token := request.GET.get("undo"):
        try:
            offer = _undo_from_token(request, token)
        except ValidationError:
            undo = None  # an expired offer is simply not shown again
        else:
            undo = {"token": token, "text": request.GET.get("undo_text", "Deal moved.")[:200], "deal": offer.deal_uuid}
    context = _board_context(request, _board_query(request.GET), undo=undo)
    # A workspace that never had a deal opens on its set-up checklist, above its empty board.
    if not request.htmx and onboarding_needed(request.workspace):
        context["onboarding_items"] = onboarding_checklist(request.workspace)
    return render_screen(request, "crm/board.html", context, partial="board")


def _board_answer(request: WorkspaceRequest, *, undo: dict[str, str] | None, status: int = 200) -> HttpResponse:
    query = _board_query(QueryDict(request.POST.get("board_query", "")))
    if request.htmx:
        context = _board_context(request, query, undo=undo)
        return render_screen(request, "crm/board.html", context, partial="board", status=status)
    if undo is not None:
        query["undo"], query["undo_text"] = undo["token"], undo["text"]
    target = reverse("crm:board", args=[request.workspace.slug])
    return redirect(f"{target}?{query.urlencode()}" if query else target)


@require_POST
@workspace_view()
def deal_move(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    """Move a deal to another stage (history is recorded by the service). Board cards and the deal page use it.

    From the board, a move to a won or lost stage needs the close date and the amount or reason (the board's
    dialog sends them; without JavaScript this answers with a page asking for them); then an undo is offered.
    """
    deal = deal_get_for_member(request.scope, deal_uuid)
    form = DealMoveForm(request.POST, workspace=request.workspace)
    from_board = request.POST.get("from") == "board"
    close_form: DealCloseForm | None = None
    undo = None
    if form.is_valid():
        stage = form.cleaned_data["stage"]
        if stage.kind != StageKind.OPEN and (from_board or "close_date" in request.POST):
            if not request.POST.get("close_date") and not request.htmx:
                return _close_page(request, deal, stage, DealCloseForm(initial=_close_initial(request, deal)))
            close_form = DealCloseForm(request.POST)
        previous = services.MoveUndo.before_move(deal, to_stage=stage)
        try:
            if close_form is None:
                services.deal_move_to_stage(deal=deal, stage=stage, actor=request.membership)
            elif close_form.is_valid():
                data = close_form.cleaned_data
                services.deal_close(
                    deal=deal, stage=stage, actor=request.membership, close_date=data["close_date"],
                    amount=data["amount"], lost_reason=data["lost_reason"],
                )  # fmt: skip
        except ValidationError as exc:
            apply_service_errors(close_form or form, exc)
        if close_form is not None and close_form.errors:
            if not request.htmx:
                return _close_page(request, deal, stage, close_form, status=422)
            form.add_error(None, _form_errors(close_form))
        if not form.errors and from_board:
            undo = _undo_offer(request, previous, f"{deal.title} was in {deal.stage.name}.")
    status = 200
    if form.errors:
        text = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, f"{deal.title} was not moved: {text}")
        status = 422
    else:
        messages.success(request, f"{deal.title} moved to {form.cleaned_data['stage'].name}.")
    if from_board:
        return _board_answer(request, undo=undo, status=status)
    fallback = reverse("crm:deal_detail", args=[request.workspace.slug, deal.uuid])
    if request.htmx:
        response = HttpResponse(status=status if status != 200 else 204)
        response["HX-Redirect"] = safe_next(request, fallback)
        return response
    return redirect(safe_next(request, fallback))


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _close_initial(request: WorkspaceRequest, deal: Deal) -> dict[str, Any]:
    today: date = request.workspace.today()
    close = deal.expected_close_date
    return {
        "close_date": close if close is not None and close <= today else today,
        "amount": deal.amount,
        "lost_reason": deal.lost_reason,
    }


def _close_page(
    request: WorkspaceRequest, deal: Deal, stage: Stage, form: DealCloseForm, *, status: int = 200
) -> HttpResponse:
    """Without JavaScript: the board's close dialog as a page, posting the same move with its answers."""
    context = {"deal": deal, "form": form, "stage": stage, "board_query": request.POST.get("board_query", "")}
    return render_screen(request, "crm/deal_close.html", context, status=status)


@require_POST
@workspace_view()
def deal_move_undo(request: WorkspaceRequest, deal_uuid: str) -> HttpResponse:
    """Put a deal back where it was before a move from the board (within a minute, by who moved it)."""
    deal = deal_get_for_member(request.scope, deal_uuid)
    status = 200
    try:
        undo = _undo_from_token(request, request.POST.get("token", ""))
        services.deal_move_undo(deal=deal, actor=request.membership, undo=undo)
    except ValidationError as exc:
        messages.error(request, f"{deal.title}: {' '.join(exc.messages)}")
        status = 422
    else:
        messages.success(request, f"Undone: {deal.title} is back where it was.")
    return _board_answer(request, undo=None, status=status)
