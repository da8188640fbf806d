"""REST endpoints of the collab app (mounted by vectoros.api at /api/v1/collab/): comments and tasks.

A key sees what its maker sees (a workspace-wide key, everything). Comments written with a workspace-wide key have
no author; such a key edits only those and deletes any. Mentions name members by id: an id that names no member
of the workspace is a 404, a member who cannot see the record is left out (the answer lists who was mentioned).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as Unprocessable

from collab import services
from collab.models import Comment, Task
from crm.models import Company, Deal
from tenancy.models import Membership
from tenancy.scope import Scope
from vectoros.apischema import Body, CursorPage, Day, PageOut, Problem, UnknownReference, paginate
from vectoros.http import ApiRequest, api_scope

router = Router(tags=["collab"])

ERRORS: dict[int, type[Schema]] = {401: Problem, 403: Problem, 404: Problem, 422: Problem}
CommentText = Annotated[
    str, Field(min_length=1, max_length=services.MAX_COMMENT_CHARS, pattern=r"^[^\x00]*\S[^\x00]*$")
]
TaskTitle = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*\S[^\x00]*$")]


class CommentOut(Schema):
    id: uuid.UUID
    deal: uuid.UUID | None
    company: uuid.UUID | None
    author: uuid.UUID | None
    body: str
    mentions: list[uuid.UUID]
    created_at: datetime
    edited_at: datetime | None

    @staticmethod
    def of(comment: Comment) -> CommentOut:
        return CommentOut(
            id=comment.uuid,
            deal=comment.deal.uuid if comment.deal else None,
            company=comment.company.uuid if comment.company else None,
            author=comment.author.uuid if comment.author else None,
            body=comment.body,
            mentions=sorted(m.uuid for m in comment.mentions.all()),
            created_at=comment.created_at,
            edited_at=comment.edited_at,
        )


class CommentPage(PageOut):
    items: list[CommentOut]


class CommentIn(Body):
    body: CommentText
    mentions: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class TaskOut(Schema):
    id: uuid.UUID
    deal: uuid.UUID
    title: str
    due_date: Day | None
    assignee: uuid.UUID | None
    done: bool
    done_at: datetime | None
    created_at: datetime

    @staticmethod
    def of(task: Task) -> TaskOut:
        return TaskOut(
            id=task.uuid,
            deal=task.deal.uuid,
            title=task.title,
            due_date=task.due_date,
            assignee=task.assignee.uuid if task.assignee else None,
            done=task.done,
            done_at=task.done_at,
            created_at=task.created_at,
        )


class TaskPage(PageOut):
    items: list[TaskOut]


class TaskPatch(Body):
    title: TaskTitle | None = None
    due_date: Day | None = None
    assignee: uuid.UUID | None = None
    done: bool | None = None


class TaskIn(Body):
    title: TaskTitle
    due_date: Day | None = None
    assignee: uuid.UUID | None = Field(None, description="a member who can see the deal; the key's maker if absent")


def _scope(request: ApiRequest) -> Scope:
    return api_scope(request)


def _comments(scope: Scope) -> QuerySet[Comment]:
    return (
        Comment.objects.for_workspace(scope.workspace)
        .visible_to(scope)
        .select_related("deal", "company", "author")
        .prefetch_related("mentions")
    )


def _tasks(scope: Scope) -> QuerySet[Task]:
    return Task.objects.for_workspace(scope.workspace).visible_to(scope).select_related("deal", "assignee")


def _one(queryset: QuerySet[Any], pk: uuid.UUID, what: str) -> Any:
    found = queryset.filter(uuid=pk).first()
    if found is None:
        raise HttpError(404, f"No such {what}")
    return found


def _mentions(scope: Scope, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    known = set(Membership.objects.for_workspace(scope.workspace).filter(uuid__in=ids).values_list("uuid", flat=True))
    for index, value in enumerate(ids):
        if value not in known:
            raise UnknownReference(["body", "mentions", str(index)], value, message=f"No such member: {value}")
    return ids


def _member(scope: Scope, value: uuid.UUID | None, field: str) -> Membership | None:
    if value is None:
        return None
    found = Membership.objects.for_workspace(scope.workspace).filter(uuid=value).first()
    if found is None:
        raise UnknownReference(["body", field], value)
    return found


def _refused(exc: ValidationError | PermissionDenied) -> HttpError | Unprocessable:
    if isinstance(exc, PermissionDenied):
        return HttpError(403, str(exc) or "Not allowed.")
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return Unprocessable(
        [{"loc": ["body", name], "msg": " ".join(msgs), "type": "value_error"} for name, msgs in errors.items()]
    )


# ---- comments --------------------------------------------------------------------------------------------------


@router.get("/deals/{deal_id}/comments/", response={200: CommentPage, **ERRORS})
def deal_comments_list(request: ApiRequest, deal_id: uuid.UUID, page: Query[CursorPage]) -> Any:
    scope = _scope(request)
    deal = _one(scope.deals(), deal_id, "deal")
    return _comment_page(request, _comments(scope).filter(deal=deal), page)


@router.get("/companies/{company_id}/comments/", response={200: CommentPage, **ERRORS})
def company_comments_list(request: ApiRequest, company_id: uuid.UUID, page: Query[CursorPage]) -> Any:
    scope = _scope(request)
    company = _one(Company.objects.for_workspace(scope.workspace), company_id, "company")
    return _comment_page(request, _comments(scope).filter(company=company), page)


def _comment_page(request: ApiRequest, queryset: QuerySet[Comment], page: CursorPage) -> dict[str, Any]:
    result = paginate(request, queryset.order_by("created_at", "id"), page)
    result["items"] = [CommentOut.of(c) for c in result["items"]]
    return result


def _comment_create(request: ApiRequest, payload: CommentIn, *, deal: Deal | None, company: Company | None) -> Any:
    scope = _scope(request)
    try:
        comment = services.comment_create(
            author=scope.membership,
            body=payload.body,
            deal=deal,
            company=company,
            mention_uuids=_mentions(scope, payload.mentions),
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refused(exc) from None
    return Status(201, CommentOut.of(_comments(scope).get(pk=comment.pk)))


@router.post("/deals/{deal_id}/comments/", response={201: CommentOut, **ERRORS})
def deal_comments_create(request: ApiRequest, deal_id: uuid.UUID, payload: CommentIn) -> Any:
    """Comment on a deal; the members mentioned who can see it are notified (in the app, by email, by push)."""
    deal = _one(_scope(request).deals(), deal_id, "deal")
    return _comment_create(request, payload, deal=deal, company=None)


@router.post("/companies/{company_id}/comments/", response={201: CommentOut, **ERRORS})
def company_comments_create(request: ApiRequest, company_id: uuid.UUID, payload: CommentIn) -> Any:
    """Comment on a company (a customer's comments are its company's)."""
    company = _one(Company.objects.for_workspace(_scope(request).workspace), company_id, "company")
    return _comment_create(request, payload, deal=None, company=company)


@router.get("/comments/{comment_id}/", response={200: CommentOut, **ERRORS})
def comments_get(request: ApiRequest, comment_id: uuid.UUID) -> Any:
    return CommentOut.of(_one(_comments(_scope(request)), comment_id, "comment"))


@router.patch("/comments/{comment_id}/", response={200: CommentOut, **ERRORS})
def comments_update(request: ApiRequest, comment_id: uuid.UUID, payload: CommentIn) -> Any:
    """Edit a comment: only its author's key (403 otherwise)."""
    scope = _scope(request)
    comment = _one(_comments(scope), comment_id, "comment")
    try:
        services.comment_update(
            comment=comment, actor=scope.membership, body=payload.body, mention_uuids=_mentions(scope, payload.mentions)
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refused(exc) from None
    return CommentOut.of(_comments(scope).get(pk=comment.pk))


@router.delete("/comments/{comment_id}/", response={204: None, **ERRORS})
def comments_delete(request: ApiRequest, comment_id: uuid.UUID) -> Any:
    """Delete a comment: its author, an owner or admin, or a workspace-wide key (403 otherwise)."""
    scope = _scope(request)
    comment = _one(_comments(scope), comment_id, "comment")
    try:
        services.comment_delete(comment=comment, actor=scope.membership)
    except PermissionDenied as exc:
        raise _refused(exc) from None
    return Status(204, None)


# ---- tasks -----------------------------------------------------------------------------------------------------


def _task_page(request: ApiRequest, queryset: QuerySet[Task], page: CursorPage) -> dict[str, Any]:
    result = paginate(request, queryset.order_by("due_date", "created_at", "id"), page)
    result["items"] = [TaskOut.of(t) for t in result["items"]]
    return result


@router.get("/tasks/", response={200: TaskPage, **ERRORS})
def tasks_list(
    request: ApiRequest, page: Query[CursorPage], assignee: uuid.UUID | None = None, done: bool | None = None
) -> Any:
    """Tasks on the deals the key sees, by due date (undated last); filter by assignee and done."""
    tasks = _tasks(_scope(request))
    if assignee is not None:
        tasks = tasks.filter(assignee__uuid=assignee)
    if done is not None:
        tasks = tasks.filter(done=done)
    return _task_page(request, tasks, page)


@router.get("/deals/{deal_id}/tasks/", response={200: TaskPage, **ERRORS})
def deal_tasks_list(request: ApiRequest, deal_id: uuid.UUID, page: Query[CursorPage]) -> Any:
    scope = _scope(request)
    deal = _one(scope.deals(), deal_id, "deal")
    return _task_page(request, _tasks(scope).filter(deal=deal), page)


@router.post("/deals/{deal_id}/tasks/", response={201: TaskOut, **ERRORS})
def deal_tasks_create(request: ApiRequest, deal_id: uuid.UUID, payload: TaskIn) -> Any:
    """A dated task on a deal. Business rule: the assignee must be a member who can see the deal (else 422)."""
    scope = _scope(request)
    deal = _one(scope.deals(), deal_id, "deal")
    try:
        task = services.task_create(
            actor=scope.membership,
            deal=deal,
            title=payload.title,
            due_date=payload.due_date,
            assignee=_member(scope, payload.assignee, "assignee"),
        )
    except (ValidationError, PermissionDenied) as exc:
        raise _refused(exc) from None
    return Status(201, TaskOut.of(_tasks(scope).get(pk=task.pk)))


@router.get("/tasks/{task_id}/", response={200: TaskOut, **ERRORS})
def tasks_get(request: ApiRequest, task_id: uuid.UUID) -> Any:
    return TaskOut.of(_one(_tasks(_scope(request)), task_id, "task"))


@router.patch("/tasks/{task_id}/", response={200: TaskOut, **ERRORS})
def tasks_update(request: ApiRequest, task_id: uuid.UUID, payload: TaskPatch) -> Any:
    """Change a task; `due_date` or `assignee` null clears it. Business rule: the assignee must see the deal."""
    scope = _scope(request)
    task = _one(_tasks(scope), task_id, "task")
    changes: dict[str, Any] = {}
    for name in payload.model_fields_set:
        value = getattr(payload, name)
        if name == "assignee":
            value = _member(scope, value, "assignee")
        elif value is None and name in {"title", "done"}:
            continue  # null leaves a required field as it is
        changes[name] = value
    try:
        services.task_update(task=task, actor=scope.membership, **changes)
    except (ValidationError, PermissionDenied) as exc:
        raise _refused(exc) from None
    return TaskOut.of(_tasks(scope).get(pk=task.pk))


@router.delete("/tasks/{task_id}/", response={204: None, **ERRORS})
def tasks_delete(request: ApiRequest, task_id: uuid.UUID) -> Any:
    scope = _scope(request)
    try:
        services.task_delete(task=_one(_tasks(scope), task_id, "task"), actor=scope.membership)
    except PermissionDenied as exc:
        raise _refused(exc) from None
    return Status(204, None)
