//! Messages in Japanese (the default) and English.
//!
//! One table holds both languages side by side, so a message cannot exist in one and not
//! the other; a test checks that every key the code uses is in the table.

use renkei_core::Role;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A UI language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (default).
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// `ja` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
    /// Parses `ja` / `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// (key, 日本語, English)
#[rustfmt::skip]
const MESSAGES: &[(&str, &str, &str)] = &[
    ("site.name", "Renkei 情報連携基盤", "Renkei information linkage platform"),
    ("site.footer", "Renkei — 仮名化された保健医療データを、データを持ち出さずに安全に分析するための基盤です。すべての操作は記録され、監督機関が確認できます。", "Renkei — analyse pseudonymized health data safely, without the data ever leaving. Every action is recorded for the supervisory body."),
    ("nav.skip", "本文へ移動", "Skip to content"),
    ("nav.label", "メインメニュー", "Main menu"),
    ("nav.home", "ホーム", "Home"),
    ("nav.users", "利用者管理", "Users"),
    ("nav.audit", "監査ログ", "Audit log"),
    ("nav.account", "アカウント", "Account"),
    ("nav.sign_in", "ログイン", "Sign in"),
    ("nav.sign_out", "ログアウト", "Sign out"),
    ("landing.title", "保健医療データの二次利用を、安全に", "Secondary use of health data, safely"),
    ("landing.lead", "NDB・DPC・介護DB・電子カルテ情報・死亡情報を、一つの窓口と一つの審査で、仮名化したまま連結して分析できます。", "Analyse the NDB, DPC, long-term-care, EHR and death data through one application window and one review, linked while pseudonymized."),
    ("landing.point1", "データは外に出ません。分析は Visiting 環境の中で行います。", "The data never leaves: analysis happens inside the Visiting environment."),
    ("landing.point2", "持ち出せるのは、開示チェックを通過した集計結果だけです。", "Only aggregate outputs that pass disclosure checks may leave."),
    ("landing.point3", "個人を直接特定する情報は、取り込み時に連結用トークンへ置き換えられます。", "Direct identifiers become linkage tokens at ingest and are never stored."),
    ("landing.point4", "すべての操作は改ざん検知可能なログに記録され、独立した監督機関が確認します。", "Every action is written to a tamper-evident log that an independent supervisor checks."),
    ("error.title", "エラー", "Error"),
    ("error.status", "ステータス", "Status"),
    ("error.code", "コード", "Code"),
    ("error.request_id", "リクエストID（問い合わせの際にお伝えください）", "Request id (quote it when asking for help)"),
    ("error.back", "戻る", "Go back"),
    ("login.title", "ログイン", "Sign in"),
    ("login.username", "ユーザー名", "Username"),
    ("login.password", "パスワード", "Password"),
    ("login.submit", "次へ", "Continue"),
    ("login.hint", "パスワードの次に、認証アプリのワンタイムコードを入力します。", "After your password you will enter a one-time code from your authenticator app."),
    ("login.signed_out", "ログアウトしました。", "You have signed out."),
    ("login.session_ended", "セッションが終了しました。もう一度ログインしてください。", "Your session has ended. Please sign in again."),
    ("enrol.title", "認証アプリの登録", "Set up your authenticator"),
    ("enrol.intro", "すべての利用者に二要素認証が必要です。認証アプリ（Google Authenticator、Microsoft Authenticator など）を登録してください。", "Every user needs a second factor. Set up an authenticator app (Google Authenticator, Microsoft Authenticator, ...)."),
    ("enrol.step1", "スマートフォンで認証アプリを開きます。", "Open an authenticator app on your phone."),
    ("enrol.step2", "この QR コードを読み取るか、下の文字列を入力します。", "Scan this QR code, or type the text below."),
    ("enrol.step3", "アプリに表示された 6 桁のコードを入力します。", "Enter the 6-digit code the app shows."),
    ("enrol.qr_alt", "認証アプリ登録用の QR コード（同じ内容の文字列が下にあります）", "QR code for your authenticator app (the same secret is shown as text below)"),
    ("enrol.secret_label", "手入力用の文字列:", "Secret to type:"),
    ("enrol.submit", "登録する", "Confirm"),
    ("mfa.title", "ワンタイムコード", "One-time code"),
    ("mfa.intro", "認証アプリに表示されている 6 桁のコードを入力してください。", "Enter the 6-digit code shown in your authenticator app."),
    ("mfa.code", "6 桁のコード", "6-digit code"),
    ("mfa.submit", "ログイン", "Sign in"),
    ("home.title", "ホーム", "Home"),
    ("home.everyone", "すべての利用者", "Everyone"),
    ("home.action.users", "利用者とロールを管理する", "Manage users and roles"),
    ("home.action.audit", "監査ログを閲覧する", "Read the audit log"),
    ("home.action.verify", "監査ログの完全性を検証する", "Verify the audit log's integrity"),
    ("home.action.account", "パスワード・API トークンを管理する", "Manage your password and API tokens"),
    ("home.action.datasets", "データセットの版・取り込み結果・不備レポートを確認する", "Review dataset versions, ingest results and reject reports"),
    ("home.action.catalog", "データカタログで変数と品質を調べる", "Explore variables and quality in the dataset catalogue"),
    ("home.action.linkage", "データベース間の連結（トークンの種類と対応）を確認する", "Review how the databases link (token families and pairs)"),
    ("nav.catalog", "データカタログ", "Catalogue"),
    ("nav.datasets", "データセット管理", "Datasets"),
    ("catalog.title", "データカタログ", "Dataset catalogue"),
    ("catalog.lead", "利用できるデータベースと、その表・変数・品質の概要です。データそのものはここには表示されず、審査を経た利用者が Visiting 環境の中でのみ分析できます。", "The databases available, with their tables, variables and quality. The data themselves are never shown here: approved users analyse them only inside the Visiting environment."),
    ("catalog.search", "キーワード検索", "Search"),
    ("catalog.search_help", "データセット名・変数名・説明・コード体系から探します（全角・半角、大文字・小文字を区別しません）。", "Searches dataset names, variables, descriptions and code systems (full/half width and case are ignored)."),
    ("catalog.search_button", "検索", "Search"),
    ("catalog.linkage_link", "データベース間の連結", "How the databases link"),
    ("catalog.dcat_link", "DCAT-AP（JSON-LD）で取得", "DCAT-AP (JSON-LD)"),
    ("catalog.api_link", "JSON API", "JSON API"),
    ("catalog.empty", "まだデータセットが登録されていません。", "No datasets are registered yet."),
    ("catalog.no_match", "一致するデータセットはありません。", "No dataset matches."),
    ("catalog.datasets_found", "件のデータセット", "datasets"),
    ("catalog.matching_variables", "一致した変数", "Matching variables"),
    ("catalog.holder", "保有者", "Holder"),
    ("catalog.kind", "種別", "Kind"),
    ("catalog.kind.public", "公的データベース", "Public database"),
    ("catalog.kind.ehr", "電子カルテ情報", "EHR data"),
    ("catalog.kind.private", "民間データベース", "Private database"),
    ("catalog.records", "レコード数", "Records"),
    ("catalog.rows", "行数", "Rows"),
    ("catalog.coverage", "収載期間", "Coverage"),
    ("catalog.accrual", "更新単位", "Accrual"),
    ("catalog.accrual.monthly", "月次", "Monthly"),
    ("catalog.accrual.yearly", "年次", "Yearly"),
    ("catalog.accrual.event", "発生の都度", "As events occur"),
    ("catalog.version", "版", "Version"),
    ("catalog.id", "ID", "Id"),
    ("catalog.code_systems", "コード体系", "Code systems"),
    ("catalog.linkage", "連結キー", "Linkage keys"),
    ("catalog.no_data", "未登録", "Not loaded"),
    ("catalog.safety", "安全管理措置", "Safety measures"),
    ("catalog.safety.organisational", "組織的", "Organisational"),
    ("catalog.safety.physical", "物理的", "Physical"),
    ("catalog.safety.technical", "技術的", "Technical"),
    ("catalog.safety.human", "人的", "Human"),
    ("catalog.suppression_note", "公表の基準により、1〜9 の件数は「<10」と表示し、それ以外の件数は 10 単位に丸めます（差し引きで少数が分からないように）。割合は丸めた件数から求め、10 回未満しか現れない値は一覧に載せません。最小値・最大値は公開せず、収録期間は月単位で示します。", "Under the publication rules, counts from 1 to 9 are shown as \"<10\" and all other counts are rounded to 10 (so that no subtraction recovers a small count). Percentages come from the rounded counts, values seen fewer than 10 times are not listed, minimum and maximum values are not published, and the coverage period is given to the month."),
    ("datasets.linkage_fingerprint", "連結鍵のフィンガープリント", "Linkage key fingerprint"),
    ("datasets.generation", "世代", "generation"),
    ("datasets.records", "レコード種別ごとの取扱い", "What became of each record type"),
    ("datasets.record_type", "レコード", "Record"),
    ("datasets.read", "読込", "Read"),
    ("datasets.stored", "保存", "Stored"),
    ("datasets.flagged", "うちマスター外", "of which not in master"),
    ("datasets.merged", "統合・読み飛ばし", "Merged or read past"),
    ("datasets.not_in_master", "マスター外", "Not in master"),
    ("catalog.masters", "コードの検証に使ったマスター", "Code masters used for validation"),
    ("catalog.masters_lead", "現在の版のコードは、次のマスターの、受診日に有効な版と照合しました。マスターにないコードは記録を残したうえで件数を示します。", "The current version's codes were checked against these masters, as in force on each record's date. Codes a master does not hold are kept, and counted."),
    ("catalog.master", "マスター", "Master"),
    ("catalog.master_file", "ファイル", "File"),
    ("catalog.master_published", "公表日", "Published"),
    ("catalog.master_embedded", "組み込みの抜粋", "Built-in excerpt"),
    ("catalog.not_in_master", "マスター外：", "Not in master:"),
    ("catalog.variables_of", "変数一覧：", "Variables of"),
    ("catalog.col.name", "変数名", "Variable"),
    ("catalog.col.label", "ラベル", "Label"),
    ("catalog.col.type", "型", "Type"),
    ("catalog.col.codes", "コード体系・単位", "Code system / unit"),
    ("catalog.col.missing", "欠測", "Missing"),
    ("catalog.col.invalid", "不正値", "Invalid"),
    ("catalog.col.values", "主な値と件数", "Frequent values"),
    ("catalog.distinct", "値の種類：", "Distinct values:"),
    ("catalog.token_note", "連結用トークン（値は表示しません）", "Linkage token (values are never shown)"),
    ("catalog.back", "カタログの一覧へ戻る", "Back to the catalogue"),
    ("catalog.linkage_title", "データベース間の連結", "How the databases link"),
    ("catalog.linkage_lead", "各データベースは、取り込み時に氏名や保険者番号などから計算した連結用トークンだけを持っています。同じ種類のトークンを持つデータベース同士は、連結機関の管理のもとで個人単位に結び付けられます。", "Each database holds only linkage tokens, computed at ingest from names, insurance numbers and the like. Databases carrying the same kind of token can be joined person by person, under the linkage authority's control."),
    ("catalog.families", "トークンの種類", "Token families"),
    ("catalog.family", "種類", "Family"),
    ("catalog.family_from", "計算に使う項目（取り込み後は保存しない）", "Computed from (not kept after ingest)"),
    ("catalog.family_carried_by", "持っているデータベース", "Carried by"),
    ("catalog.matrix", "連結の対応表", "Linkage matrix"),
    ("catalog.matrix_caption", "行と列のデータベースが共有するトークン", "Tokens shared by the row and column databases"),
    ("catalog.no_direct_link", "直接の連結なし", "no direct link"),
    ("catalog.pairs", "連結で分かるようになること", "What linking makes possible"),
    ("catalog.indirect_note", "直接の連結がない組み合わせも、両方と連結できるデータベース（例：電子カルテ情報）を介して、連結機関が個人単位で結び付けられる場合があります。", "Pairs without a direct link may still be joined person by person by the linkage authority, through a database that links with both (such as the EHR data)."),
    ("datasets.title", "データセット管理", "Datasets"),
    ("datasets.lead", "取り込まれたすべての版（採用・不採用）と、その元ファイル・品質・不備レポートです。", "Every ingested version, committed or refused, with its source files, quality profile and reject report."),
    ("datasets.none", "まだ取り込まれたデータセットはありません。", "No dataset has been ingested yet."),
    ("datasets.name", "名称", "Name"),
    ("datasets.current", "公開中の版", "Current"),
    ("datasets.latest", "最新の取り込み", "Latest ingest"),
    ("datasets.rows_in", "読み込んだレコード", "Records read"),
    ("datasets.rejected", "不備で除外", "Rejected"),
    ("datasets.loaded_at", "取り込み日時", "Loaded at"),
    ("datasets.loaded_by", "取り込んだ者", "Loaded by"),
    ("datasets.committed", "採用", "committed"),
    ("datasets.refused", "不採用", "refused"),
    ("datasets.cli_hint", "新しい版は、元ファイルのあるサーバー上で次のコマンドで取り込みます：", "Ingest a new version on the server holding the source files with:"),
    ("datasets.public_page", "公開カタログでの表示を見る", "See the public catalogue page"),
    ("datasets.versions", "版", "Versions"),
    ("datasets.reject_report", "不備レポート（CSV）", "Reject report (CSV)"),
    ("datasets.files", "元ファイル", "Source files"),
    ("datasets.file", "ファイル", "File"),
    ("datasets.bytes", "バイト数", "Bytes"),
    ("datasets.profile", "品質プロファイル（抑制なし）", "Quality profile (unsuppressed)"),
    ("datasets.rows", "行", "rows"),
    ("datasets.present", "値あり", "Present"),
    ("datasets.min", "最小", "Min"),
    ("datasets.max", "最大", "Max"),
    ("datasets.back", "データセットの一覧へ戻る", "Back to the datasets"),
    ("account.title", "アカウント", "Account"),
    ("account.profile", "プロフィール", "Profile"),
    ("account.username", "ユーザー名", "Username"),
    ("account.display_name", "表示名", "Display name"),
    ("account.roles", "ロール", "Roles"),
    ("account.mfa", "二要素認証", "Second factor"),
    ("account.mfa_on", "登録済み", "Enrolled"),
    ("account.mfa_off", "未登録", "Not enrolled"),
    ("account.session_expires", "このセッションの有効期限", "This session expires"),
    ("account.password", "パスワードの変更", "Change password"),
    ("account.current_password", "現在のパスワード", "Current password"),
    ("account.new_password", "新しいパスワード", "New password"),
    ("account.confirm_password", "新しいパスワード（確認）", "New password (again)"),
    ("account.change_password", "変更する", "Change"),
    ("account.password_changed", "パスワードを変更しました。他のセッションは終了しました。", "Password changed. Your other sessions have ended."),
    ("account.password_mismatch", "新しいパスワードが一致しません。", "The new passwords do not match."),
    ("account.tokens", "API トークン", "API tokens"),
    ("account.tokens_intro", "API トークンで /api/v1 を利用できます。トークンの値は作成時に一度だけ表示されます。30 日間使われないトークンは無効になります。", "API tokens give access to /api/v1. A token's value is shown once, when it is created. A token unused for 30 days stops working."),
    ("account.no_tokens", "API トークンはありません。", "You have no API tokens."),
    ("account.token_name", "名前", "Name"),
    ("account.token_created", "作成", "Created"),
    ("account.token_expires", "有効期限", "Expires"),
    ("account.token_last_used", "最終使用", "Last used"),
    ("account.token_status", "状態", "Status"),
    ("account.token_revoke", "無効化", "Revoke"),
    ("account.token_revoked", "無効化済み", "Revoked"),
    ("account.token_active", "有効", "Active"),
    ("account.token_expired", "期限切れ", "Expired"),
    ("account.token_days", "有効日数（役割により上限 30 日または 90 日）", "Valid for days (at most 30 or 90, by role)"),
    ("account.token_scope", "範囲", "Scope"),
    ("account.token_scope_read_only", "読み取りのみ", "Read only"),
    ("account.token_scope_all", "すべての操作", "Everything your roles allow"),
    ("account.token_password", "確認のため現在のパスワード", "Your current password, to confirm"),
    ("account.token_create", "トークンを作成", "Create token"),
    ("account.token_created_once", "トークンを作成しました。この値は二度と表示されません。今すぐ安全な場所に保存してください:", "Token created. This value will not be shown again; store it safely now:"),
    ("account.token_revoked_done", "トークンを無効化しました。", "Token revoked."),
    ("password.rules", "12 文字以上。ユーザー名を含むもの、よく使われるものは使えません。長い文章（パスフレーズ）がおすすめです。", "At least 12 characters, not containing your username, not a common password. A long phrase works well."),
    ("admin.users_title", "利用者管理", "Users"),
    ("admin.roles", "ロール", "Roles"),
    ("admin.status", "状態", "Status"),
    ("admin.status_active", "有効", "Active"),
    ("admin.status_disabled", "停止", "Disabled"),
    ("admin.status_locked", "一時ロック中", "Temporarily locked"),
    ("admin.new_user", "利用者の追加", "Add a user"),
    ("admin.username_rules", "英小文字で始まる 3〜64 文字（a-z、0-9、. _ -）", "3–64 characters, starting with a letter (a-z, 0-9, . _ -)"),
    ("admin.create", "追加する", "Add user"),
    ("admin.user_title", "利用者:", "User:"),
    ("admin.locked_until", "ロック解除", "Locked until"),
    ("admin.created_at", "作成日時", "Created"),
    ("admin.save_roles", "ロールを保存", "Save roles"),
    ("admin.disable", "利用停止", "Disable"),
    ("admin.enable", "利用再開", "Enable"),
    ("admin.reset_mfa", "アクセスをリセット（新しい登録リンク）", "Reset access (new enrolment link)"),
    ("admin.reset_help", "パスワードと二要素認証の両方を消去し、すべてのセッションと API トークンを終了して、本人が設定し直すための新しいリンクを発行します。", "Clears both the password and the second factor, ends every session and API token, and issues a new link with which the user sets them again."),
    ("admin.invite_help", "パスワードは設定しません。作成後に表示される一度限りのリンク（72 時間有効）を本人に渡してください。本人がパスワードと認証アプリを設定します。", "No password is set here. Give the user the single-use link shown after creation (valid 72 hours): they set their own password and authenticator."),
    ("admin.link_once", "登録リンクを発行しました。このリンクは一度しか表示されません。本人に安全な方法で渡してください:", "Enrolment link issued. It is shown only once; give it to the user by a safe channel:"),
    ("admin.link_expires", "有効期限:", "Expires:"),
    ("admin.to_user", "利用者のページへ", "To the user's page"),
    ("admin.roles_pending", "管理者・監督機関・連結管理者の役割は、別の管理者の承認を待っています。", "The admin, auditor or linkage-authority role waits for another administrator's approval."),
    ("admin.requests", "承認待ちの役割付与", "Role grants awaiting approval"),
    ("admin.requests_help", "管理者・監督機関・連結管理者の役割の付与には、依頼した管理者とは別の管理者の承認が必要です。", "Granting the admin, auditor or linkage-authority role takes the approval of an administrator other than the one who asked."),
    ("admin.requested_by", "依頼", "Requested by"),
    ("admin.decide", "判断", "Decision"),
    ("admin.approve", "承認", "Approve"),
    ("admin.reject", "却下", "Reject"),
    ("admin.done.approved", "役割の付与を承認しました。", "The role grant was approved."),
    ("admin.done.rejected", "役割の付与を却下しました。", "The role grant was rejected."),
    ("admin.done.roles_pending", "役割の変更を依頼しました。別の管理者の承認を待っています。", "The change of roles is requested and waits for another administrator's approval."),
    ("enrol_link.title", "パスワードの設定", "Set your password"),
    ("enrol_link.intro", "ご自身のパスワードを設定してください。次に認証アプリを登録します。このリンクは一度だけ使えます。", "Set your own password. Next you will register an authenticator app. This link works once."),
    ("enrol_link.submit", "設定して続ける", "Set and continue"),
    ("err.link_invalid", "このリンクは使えません（使用済み、期限切れ、または誤り）。管理者に新しいリンクを依頼してください。", "This link does not work (used, expired or mistyped). Ask an administrator for a new one."),
    ("err.second_admin_required", "この操作には、依頼した管理者とは別の管理者が必要です。", "This needs an administrator other than the one who asked."),
    ("err.invite_instead", "管理者は利用者を招待します（パスワードは本人が設定します）。", "Administrators invite users; users set their own passwords."),
    ("admin.back", "利用者一覧へ", "Back to users"),
    ("admin.done.roles", "ロールを保存しました。", "Roles saved."),
    ("admin.done.disabled", "利用を停止しました。セッションと API トークンは無効になりました。", "User disabled. Their sessions and API tokens were revoked."),
    ("admin.done.enabled", "利用を再開しました。", "User enabled."),
    ("audit.title", "監査ログ", "Audit log"),
    ("audit.since", "開始日", "From"),
    ("audit.until", "終了日（この日を含まない）", "Until (exclusive)"),
    ("audit.actor", "操作者", "Actor"),
    ("audit.action", "操作", "Action"),
    ("audit.denied_only", "拒否のみ", "Denials only"),
    ("audit.apply", "絞り込む", "Filter"),
    ("audit.verify", "完全性を検証", "Verify integrity"),
    ("audit.export", "JSON Lines で書き出す", "Export as JSON Lines"),
    ("audit.none", "該当する記録はありません。", "No matching entries."),
    ("audit.caption", "新しい順", "Newest first"),
    ("audit.time", "日時", "Time"),
    ("audit.object", "対象", "Object"),
    ("audit.outcome", "結果", "Outcome"),
    ("audit.request", "リクエスト", "Request"),
    ("audit.allowed", "許可", "Allowed"),
    ("audit.denied", "拒否", "Denied"),
    ("audit.verify_title", "監査ログの検証", "Audit log verification"),
    ("audit.verify_ok", "監査ログは完全です。改ざん・削除・挿入・並べ替え・末尾の切り詰めは見つかりませんでした。", "The audit log is intact: no modification, deletion, insertion, reordering or truncation found."),
    ("audit.verify_bad", "監査ログに問題が見つかりました。以下を確認してください。", "Problems were found in the audit log. See below."),
    ("audit.entries", "記録数", "Entries"),
    ("audit.last_seq", "最終番号", "Last entry"),
    ("audit.checkpoints", "署名付きチェックポイント", "Signed checkpoints"),
    ("audit.latest_checkpoint", "最新チェックポイント", "Latest checkpoint"),
    ("audit.mac_checked", "MAC 検証", "MACs checked"),
    ("audit.witnessed", "監督者の連署（最新）", "Countersigned by the witness (latest)"),
    ("audit.no_witness", "連署する監督者の鍵が登録されていません。このログは運営者自身の鍵でしか守られていません。", "No witness key is registered: this log is protected only by the operator's own keys."),
    ("audit.tail", "未確認の末尾", "Tail not yet covered"),
    ("audit.tail_value", "{n} 件（最古のものは {secs} 秒前）", "{n} entries (the oldest waiting {secs} s)"),
    ("audit.problems", "見つかった問題", "Problems found"),
    ("audit.problem_kind", "種類", "Kind"),
    ("audit.problem_detail", "内容", "Detail"),
    ("audit.back", "監査ログへ戻る", "Back to the audit log"),
    ("common.yes", "はい", "Yes"),
    ("common.no", "いいえ", "No"),
    ("role.researcher.name", "研究者（利活用者）", "Researcher"),
    ("role.researcher.desc", "利用申出を行い、承認後は Visiting 環境で分析し、結果の持ち出しを申請します。", "Apply for data; once approved, analyse in the Visiting workspace and request release of outputs."),
    ("role.committee_member.name", "審査委員", "Committee member"),
    ("role.committee_member.desc", "利用申出を倫理・科学の両面から審査します。利益相反を申告し、該当する案件の審議には加わりません。", "Review applications ethically and scientifically; declare conflicts of interest and stand aside where they apply."),
    ("role.secretariat.name", "事務局", "Secretariat"),
    ("role.secretariat.desc", "審査会を運営し、定足数を確認し、決定を記録し、利用許可を発行します。", "Run committee meetings, check quorum, record decisions and issue permits."),
    ("role.custodian.name", "データベース保有者", "Data custodian"),
    ("role.custodian.desc", "データセットを登録・説明し、データを取り込み、各データベースの最終確認を行います。", "Register and describe datasets, ingest data and give each database's final confirmation."),
    ("role.output_checker.name", "出力チェック担当", "Output checker"),
    ("role.output_checker.desc", "自動の開示チェック結果を見ながら、結果の持ち出し申請を審査します。", "Review output release requests beside the automatic disclosure checks."),
    ("role.linkage_authority.name", "連結管理者", "Linkage authority"),
    ("role.linkage_authority.desc", "連結用の鍵を管理し、データの連結を実行します。分析結果は見ません。", "Hold the linkage keys and run linkage; never see analysis results."),
    ("role.admin.name", "運用管理者", "Operator admin"),
    ("role.admin.desc", "利用者・ロール・鍵・設定を管理します。監査ログは変更できません。", "Manage users, roles, keys and settings. The audit log is beyond your reach."),
    ("role.auditor.name", "監督機関", "Supervisory auditor"),
    ("role.auditor.desc", "すべてのログと記録を読み取り専用で確認し、ログの完全性を検証します。", "Read every log and record, read-only, and verify the log's integrity."),
    ("nav.applications", "利用申出", "Applications"),
    ("app.list_title", "利用申出", "Your applications"),
    ("app.new", "新しい申出", "New application"),
    ("app.none", "申出はまだありません。", "No applications yet."),
    ("app.title", "研究課題名", "Title"),
    ("app.untitled", "（無題）", "(untitled)"),
    ("app.state", "状態", "State"),
    ("app.version", "版", "Version"),
    ("app.accredited", "利用者認定：有効", "Accreditation: current"),
    ("app.days_left", "日", "days left"),
    ("app.accreditation_expiring", "利用者認定の期限が近づいています。事務局に更新を依頼してください。", "Your accreditation expires soon; ask the secretariat to renew it."),
    ("app.accreditation_incomplete", "利用者認定に不足があります：", "Your accreditation is missing:"),
    ("app.not_accredited", "利用者認定がありません（または失効・取消）。申出に名を連ねるには有効な認定が必要です。", "You hold no current accreditation; everyone named on an application needs one."),
    ("app.missing.training", "研修の修了", "completed training"),
    ("app.missing.pledge", "誓約書", "a signed pledge"),
    ("app.missing.institution", "所属機関", "an institution"),
    ("app.missing.safety_measures", "所属機関の安全管理措置", "the institution's safety measures"),
    ("app.section.study", "研究の内容", "The study"),
    ("app.section.data", "求めるデータ", "The data requested"),
    ("app.section.use", "利用の方法", "How the data will be used"),
    ("app.institution", "所属機関", "Institution"),
    ("app.handlers", "データを取り扱う者（ユーザー名を1行に1人）", "People who will handle the data (usernames, one per line)"),
    ("app.handlers_help", "全員に有効な利用者認定が必要です。", "Each needs a current accreditation."),
    ("app.purpose", "利用目的", "Purpose"),
    ("app.purpose.public_health", "公衆衛生の向上", "Public health"),
    ("app.purpose.policy", "施策の企画・立案", "Policy"),
    ("app.purpose.statistics", "統計の作成", "Statistics"),
    ("app.purpose.research", "学術研究（医薬品等の研究開発を含む）", "Research (drug development included)"),
    ("app.purpose.education", "教育", "Education"),
    ("app.purpose_text", "利用目的の説明", "The purpose in your words"),
    ("app.summary_ja", "一般向けの要約（日本語）", "Plain-language summary (Japanese)"),
    ("app.summary_en", "一般向けの要約（英語・任意）", "Plain-language summary (English, optional)"),
    ("app.public_interest", "公益性", "Public interest"),
    ("app.commercial", "営利目的の利用", "Commercial use"),
    ("app.yes", "はい", "Yes"),
    ("app.no", "いいえ", "No"),
    ("app.why_pseudonymized", "仮名化情報が必要な理由", "Why pseudonymized rather than anonymized data"),
    ("app.methods", "方法と計画", "Methods and plan"),
    ("app.data_help", "データセットごとに変数を選び、必要なら期間・年齢・傷病コードで対象を絞ってください。", "Pick variables per dataset; narrow the rows by period, age and condition codes if needed."),
    ("app.data_from", "期間（から）", "From"),
    ("app.data_to", "期間（まで）", "To"),
    ("app.ages", "年齢（例 40-74）", "Ages (e.g. 40-74)"),
    ("app.conditions", "傷病コード（空白区切り）", "Condition codes (space-separated)"),
    ("app.linkage_reason", "連結が必要な理由（複数のデータセットを求める場合）", "Why the datasets must be linked (when more than one)"),
    ("app.use_from", "利用開始日", "First day of use"),
    ("app.use_to", "利用終了日", "Last day of use"),
    ("app.place_of_use", "利用場所と方法", "Where and how the data will be analysed"),
    ("app.publication_plan", "公表の方法と時期", "Publication plan"),
    ("app.safety_measures", "安全管理措置", "Safety measures"),
    ("app.software", "持ち込むソフトウェア（1行に「名前 版 SHA-256」）", "Software brought in (one per line: name version SHA-256)"),
    ("app.software_help", "SHA-256 は 64 桁の16進数です。", "The SHA-256 is 64 hexadecimal digits."),
    ("app.conflicts_of_interest", "利益相反（なければ「なし」）", "Conflicts of interest (write \"none\" if none)"),
    ("app.save_draft", "下書きを保存", "Save draft"),
    ("app.save", "保存", "Save"),
    ("app.submit", "申出を提出", "Submit"),
    ("app.withdraw", "申出を取り下げ", "Withdraw"),
    ("app.problems", "提出できません。次の項目を確認してください。", "The application cannot be submitted yet. Check these fields:"),
    ("app.problem.missing", "未記入です", "is missing"),
    ("app.problem.duplicate", "重複しています", "is listed twice"),
    ("app.problem.not_accredited", "有効な利用者認定がありません", "holds no current accreditation"),
    ("app.problem.before_start", "開始日より前です", "is before the start"),
    ("app.problem.period_too_long", "期間が長すぎます（最長5年）", "is too long (five years at most)"),
    ("app.problem.unknown_variable", "カタログにない変数です", "is not in the catalogue"),
    ("app.problem.invalid_range", "範囲が正しくありません", "is not a valid range"),
    ("app.problem.invalid_code", "コードの形式が正しくありません", "is not a valid code"),
    ("app.problem.not_sha256", "SHA-256（64桁の16進数）ではありません", "is not a SHA-256 (64 hexadecimal digits)"),
    ("app.conditions_attached", "承認の条件", "Conditions of approval"),
    ("app.history", "経過", "History"),
    ("app.no_history", "まだ提出されていません。", "Not submitted yet."),
    ("app.content", "申出の内容", "The application"),
    ("app.back", "申出の一覧へ", "Back to your applications"),
    ("app.done.saved", "保存しました。", "Saved."),
    ("app.done.submitted", "提出しました。事務局の確認をお待ちください。", "Submitted. The secretariat will screen it."),
    ("app.done.withdrawn", "取り下げました。", "Withdrawn."),
    ("app.state.draft", "下書き", "Draft"),
    ("app.state.submitted", "事務局確認中", "Being screened"),
    ("app.state.returned", "修正依頼", "Changes requested"),
    ("app.state.in_review", "審査中", "In review"),
    ("app.state.approved", "承認（保有者確認待ち）", "Approved (awaiting custodians)"),
    ("app.state.permitted", "利用許可", "Permitted"),
    ("app.state.rejected", "不承認", "Rejected"),
    ("app.state.withdrawn", "取下げ", "Withdrawn"),
    ("app.state.closed", "終了", "Closed"),
    ("app.step.submit", "提出", "Submitted"),
    ("app.step.withdraw", "取下げ", "Withdrawn"),
    ("app.step.return", "修正依頼", "Returned for changes"),
    ("app.step.send_to_meeting", "審査委員会に付議", "Sent to the committee"),
    ("app.step.decide", "審査委員会の判定", "Committee decision"),
    ("app.step.confirm", "保有者の確認", "Confirmed by a custodian"),
    ("app.step.refuse", "保有者の不同意", "Refused by a custodian"),
    ("app.step.close", "終了", "Closed"),
    ("nav.review", "審査事務", "Review"),
    ("review.title", "申出の審査", "Applications under review"),
    ("review.committee", "審査委員会の名簿", "The committee's roster"),
    ("review.done", "記録しました。", "Recorded."),
    ("review.screening", "形式審査", "Screening"),
    ("review.meeting", "審査委員会（回）", "Meeting"),
    ("review.expedited", "迅速審査（変更申出のみ）", "Expedited review (amendments only)"),
    ("review.send", "審査委員会に付議", "Send to the committee"),
    ("review.reason", "理由", "Reason"),
    ("review.return", "修正を依頼", "Return for changes"),
    ("review.decision", "審査委員会の判定", "The committee's decision"),
    ("review.approve", "承認", "Approve"),
    ("review.approve_with_conditions", "条件付き承認", "Approve with conditions"),
    ("review.continue_review", "継続審査（修正依頼）", "Continue review (changes requested)"),
    ("review.reject", "不承認", "Reject"),
    ("review.conditions", "条件（1行に1つ）", "Conditions (one per line)"),
    ("review.present", "出席した委員", "Members present"),
    ("review.reasons", "理由と各委員の意見", "Reasons and members' comments"),
    ("review.record", "判定を記録", "Record the decision"),
    ("review.back", "申出の一覧へ", "Back to the applications"),
    ("review.composition_ok", "審査委員会は指針の構成要件をすべて満たしています。", "The committee meets every requirement of the guideline."),
    ("review.composition_unmet", "審査委員会は次の構成要件を満たしていません：", "The committee does not meet these requirements:"),
    ("review.member", "委員", "Member"),
    ("review.expertise", "区分", "Expertise"),
    ("review.expertise.natural_science", "自然科学の有識者", "Natural science"),
    ("review.expertise.humanities_social", "人文・社会科学の有識者", "Humanities / social science"),
    ("review.expertise.general_public", "一般の立場の者", "General public"),
    ("review.external", "外部の委員", "From outside the institution"),
    ("review.sex", "性別", "Sex"),
    ("review.sex.female", "女性", "Female"),
    ("review.sex.male", "男性", "Male"),
    ("review.appoint", "委員を任命", "Appoint a member"),
    ("review.username", "ユーザー名", "Username"),
    ("err.involved_in_application", "この申出の関係者は審査の手続きを行えません。", "People named on an application take no step in its review."),
    ("err.not_for_oneself", "自分自身に対してこの操作はできません。", "You cannot do this for yourself."),
    ("err.not_submitted_yet", "この申出はまだ提出されていません。", "This application has not been submitted."),
    ("nav.committee", "審査委員会", "Committee"),
    ("nav.custody", "保有者確認", "Custodian review"),
    ("committee.title", "審査委員会の議題", "The committee's agenda"),
    ("committee.nothing", "いま対応が必要な申出はありません。", "Nothing is waiting for you."),
    ("committee.coi", "利益相反の申告", "Conflict of interest"),
    ("committee.coi_help", "利益相反のある委員は、この申出の審議と判定から自動的に外れます。", "A member with a conflict takes no part in the discussion or decision of this application; this is automatic."),
    ("committee.coi_none", "利益相反はない", "I have no conflict"),
    ("committee.coi_yes", "利益相反がある", "I have a conflict"),
    ("committee.coi_detail", "内容", "What it is"),
    ("committee.declare", "申告する", "Declare"),
    ("committee.back", "議題の一覧へ", "Back to the agenda"),
    ("custody.title", "保有者の確認を待つ申出", "Applications waiting for your confirmation"),
    ("custody.answer_for", "データセット", "Dataset"),
    ("custody.answer", "回答", "Your answer"),
    ("custody.confirm", "利用に同意する", "Confirm the use"),
    ("custody.refuse", "利用に同意しない（理由を記入）", "Refuse the use (give reasons)"),
    ("custody.reason", "理由", "Reasons"),
    ("custody.send", "回答する", "Answer"),
    ("custody.back", "一覧へ", "Back to the list"),
    ("accr.title", "利用者認定", "Accreditations"),
    ("accr.record", "認定を記録・更新", "Record or renew an accreditation"),
    ("accr.course", "修了した研修", "Training completed"),
    ("accr.trained_on", "研修の修了日", "Trained on"),
    ("accr.pledge_signed_on", "誓約書の署名日", "Pledge signed on"),
    ("accr.expires_on", "有効期限", "Valid until"),
    ("accr.revoke", "認定を取り消す（直ちに利用停止）", "Revoke (access stops at once)"),
    ("nav.projects", "利用中の研究", "Projects"),
    ("nav.register", "公開登録簿", "Public register"),
    ("project.list_title", "利用中の研究", "Projects"),
    ("project.messages", "お知らせ", "Messages"),
    ("project.none", "利用許可を受けた研究はまだありません。", "No project holds a permit yet."),
    ("project.status", "状況", "Status"),
    ("project.status.open", "利用中", "In use"),
    ("project.status.not_started", "利用開始前", "Not started"),
    ("project.status.ended", "利用期間終了", "Period ended"),
    ("project.status.closed", "終了（データ消去済み）", "Closed (data destroyed)"),
    ("project.period", "利用期間", "Period of use"),
    ("project.permit_version", "許可の版", "Permit version"),
    ("project.ending", "利用期間の終了が近づいています。延長は変更申出で行います", "The period of use ends soon. An extension is an amendment"),
    ("project.ended", "利用期間が終了しました。データにはアクセスできません。", "The period of use has ended. The data can no longer be reached."),
    ("project.not_started", "利用期間はまだ始まっていません。", "The period of use has not begun."),
    ("project.overdue", "公表期限を過ぎていますが、成果が登録されていません。", "Results are overdue: the publication day has passed with nothing added."),
    ("project.done.closed", "終了しました。データの鍵を破棄し、消去証明を記録しました。", "Closed. The data keys were destroyed and a deletion certificate recorded."),
    ("project.done.published", "成果を登録しました。", "Added."),
    ("project.permit", "利用許可", "Permit"),
    ("project.permit_json", "許可書（JSON、EHDSとの対応付き）", "The permit as JSON, with its EHDS mapping"),
    ("project.id", "研究ID", "Project id"),
    ("project.data", "許可されたデータと抽出条件", "Data granted, with its row filters"),
    ("project.people", "利用者", "People named"),
    ("project.linkage", "連結", "Linkage"),
    ("project.no_linkage", "なし", "None"),
    ("project.data_form", "データの形式", "Form of the data"),
    ("project.pseudonymized", "仮名化", "Pseudonymized"),
    ("project.tools", "分析環境のツール", "Tools of the environment"),
    ("project.no_conditions", "なし", "None"),
    ("project.two_checkers", "二人の確認者が必要な成果物", "Outputs that need two checkers"),
    ("project.publish_by", "公表期限", "Publish results by"),
    ("project.certificate", "消去証明", "Deletion certificate"),
    ("project.certificate_id", "証明ID", "Certificate id"),
    ("project.destroyed_at", "消去日時", "Destroyed at"),
    ("project.destroyed_by", "実施者", "Destroyed by"),
    ("project.keys_destroyed", "破棄した鍵の数", "Keys destroyed"),
    ("project.digest", "ダイジェスト（SHA-256）", "Digest (SHA-256)"),
    ("project.closure_reason", "終了の理由", "Reason for closure"),
    ("project.publications", "成果・公表物", "Results and publications"),
    ("project.no_publications", "まだ登録されていません。", "None added yet."),
    ("project.add_publication", "成果を登録する", "Add a result or publication"),
    ("project.publication_kind", "種類", "Kind"),
    ("project.kind.article", "論文", "Article"),
    ("project.kind.report", "報告書", "Report"),
    ("project.kind.dataset", "公開データ", "Dataset"),
    ("project.kind.other", "その他", "Other"),
    ("project.citation", "書誌情報", "Citation"),
    ("project.url", "URL（任意）", "Address (optional)"),
    ("project.add", "登録する", "Add"),
    ("project.close", "研究を終了してデータを消去する", "Close the project and destroy its data"),
    ("project.close_explained", "終了すると、この研究のデータの鍵を破棄し、消去証明を記録します。取り消せません。", "Closing destroys the keys of this project's data and records a deletion certificate. It cannot be undone."),
    ("project.open_page", "研究と利用許可のページへ", "The project and its permit"),
    ("register.title", "公開登録簿：承認された研究", "Public register of approved projects"),
    ("register.intro", "このプラットフォームでデータの利用を承認されたすべての研究を公開しています。利用期間、条件、成果、終了時の消去証明を確認できます。", "Every project approved to use data on this platform, with its period, conditions, results and, once closed, its deletion certificate."),
    ("register.csv", "CSVでダウンロード", "Download as CSV"),
    ("register.json", "JSON", "JSON"),
    ("register.none", "承認された研究はまだありません。", "No project has been approved yet."),
    ("register.datasets", "利用するデータベース", "Datasets"),
    ("register.summary", "研究の概要", "Summary"),
    ("register.commercial", "営利目的の利用", "Commercial use"),
    ("register.yes", "あり", "Yes"),
    ("register.no", "なし", "No"),
    ("register.overdue", "公表期限を過ぎていますが、成果が登録されていません。", "Results overdue"),
    ("register.opt_out", "ご自身のデータの利用停止（オプトアウト）", "Stopping the use of your data (opt-out)"),
    ("register.opt_out_how", "ご自身のデータを今後の研究に使わないよう求めることができます。窓口で本人確認のうえ受け付け、氏名などはそのまま保存せず、データ連結に使う識別子（ハッシュ）にしてから記録します。記録の後に作成される研究用データからは、あなたのデータが除かれます。すでに公表された集計結果は取り消せません。", "You can ask that your data no longer be used. The request is taken at the desk after your identity is checked; your name and other details are not stored as such but turned into the linkage identifiers (keyed hashes) the platform uses. Every research extract made after that leaves your data out. Statistics already published cannot be withdrawn."),
    ("app.attachments", "添付書類", "Attachments"),
    ("app.no_attachments", "添付書類はありません。", "No attachments."),
    ("app.attach", "添付するファイル", "File to attach"),
    ("app.attach_hint", "PDF、PNG、JPEG、Word、Excel、PowerPoint、テキスト（10MBまで）。形式はファイル名ではなく内容で判定します。", "PDF, PNG, JPEG, Word, Excel, PowerPoint or text, up to 10 MB. The type is read from the content, not the name."),
    ("app.attach_button", "添付する", "Attach"),
    ("app.done.attached", "添付しました。", "Attached."),
    ("app.amends", "変更の対象となる研究", "Amends the project"),
    ("review.meetings", "審査委員会の開催", "Meetings"),
    ("review.no_meetings", "予定された委員会はありません。", "No meeting scheduled."),
    ("review.held_on", "開催日", "Held on"),
    ("review.designated", "迅速審査の指名委員", "Designated members"),
    ("review.agenda", "付議中の申出", "On its agenda"),
    ("review.reported", "委員会へ報告済み", "Reported to the committee"),
    ("review.report", "委員会へ報告したことを記録", "Record the report to the committee"),
    ("review.full_meeting", "全体会議", "Full meeting"),
    ("review.schedule", "委員会を予定する", "Schedule a meeting"),
    ("review.meeting_title", "名称（例：第3回 審査委員会）", "Title (e.g. the 3rd meeting)"),
    ("review.designate", "迅速審査とする場合は指名する委員（変更申出のみ）", "For an expedited review, the members designated (amendments only)"),
    ("review.schedule_first", "まず委員会を予定してください", "Schedule a meeting first"),
    ("review.risk", "要求データのリスク概要", "Risk summary of the data requested"),
    ("review.risk.variables", "変数の数", "Variables"),
    ("review.risk.quasi", "うち準識別子（年齢・性別・地域・日付など）", "Of them, quasi-identifiers (age, sex, place, dates)"),
    ("review.risk.linked", "連結するデータベース", "Datasets to be linked"),
    ("review.risk.explained", "準識別子が多いほど、また連結するデータベースが多いほど、個人が特定されやすくなります。", "The more quasi-identifiers asked together, and the more datasets linked, the easier it is to single a person out."),
    ("review.changes", "前の版からの変更", "Changes from the previous version"),
    ("review.no_changes", "変更はありません。", "Nothing changed."),
    ("review.change.field", "項目", "Field"),
    ("review.change.before", "変更前", "Before"),
    ("review.change.after", "変更後", "After"),
    ("project.amend", "変更申出を作成する（変数の追加、期間の延長、利用者の追加）", "Start an amendment (more variables, a longer period, new people)"),
    ("err.generic", "処理できませんでした。", "The request could not be completed."),
    ("err.not_signed_in", "ログインが必要です。", "Please sign in."),
    ("err.mfa_required", "ワンタイムコードの入力が必要です。", "Please enter your one-time code."),
    ("err.permission_missing", "この操作を行う権限がありません。", "You do not have permission to do this."),
    ("err.token_read_only", "この API トークンは読み取り専用です。", "This API token is read-only."),
    ("err.csrf", "フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてやり直してください。", "This form has expired or was not sent from this site. Reload the page and try again."),
    ("err.not_found", "ページが見つかりません。", "Page not found."),
    ("err.bad_request", "入力内容に誤りがあります。", "Something in the request is not right."),
    ("err.internal", "システムエラーが発生しました。時間をおいて再度お試しください。", "Something went wrong on our side. Please try again later."),
    ("err.invalid_username", "ユーザー名は英小文字で始まる 3〜64 文字（a-z、0-9、. _ -）です。", "A username has 3–64 characters, starts with a letter and uses a-z, 0-9, . _ -."),
    ("err.password_too_short", "パスワードは 12 文字以上にしてください。", "A password needs at least 12 characters."),
    ("err.password_too_long", "パスワードは 256 文字以内にしてください。", "A password may have at most 256 characters."),
    ("err.password_contains_username", "パスワードにユーザー名を含めることはできません。", "A password must not contain the username."),
    ("err.password_too_common", "よく使われる、または推測されやすいパスワードです。", "This password is too common or too easy to guess."),
    ("err.duplicate_username", "このユーザー名は既に使われています。", "That username is taken."),
    ("err.no_such_user", "利用者が見つかりません。", "No such user."),
    ("err.bad_credentials", "ユーザー名またはパスワードが違います。", "Wrong username or password."),
    ("err.locked", "失敗が続いたため、一時的にログインできません。しばらくしてからお試しください。", "Too many failed attempts. Sign-in is paused for a while; try again later."),
    ("err.throttled", "この接続元からのログイン失敗が多すぎます。しばらくしてからお試しください。", "Too many failed sign-ins from this address. Try again later."),
    ("err.account_disabled", "このアカウントは利用停止中です。管理者にお問い合わせください。", "This account is disabled. Contact your administrator."),
    ("err.bad_totp", "コードが違うか、有効期限が切れています。", "That code is wrong or has expired."),
    ("err.totp_replayed", "このコードは使用済みです。次のコードが表示されるまでお待ちください。", "That code was already used. Wait for the next one."),
    ("err.mfa_not_enrolled", "認証アプリが登録されていません。", "No authenticator is set up."),
    ("err.mfa_already_enrolled", "認証アプリは登録済みです。", "An authenticator is already set up."),
    ("err.no_enrolment", "登録手続きが見つかりません。最初からやり直してください。", "No set-up in progress. Please start again."),
    ("err.unknown", "セッションが見つかりません。もう一度ログインしてください。", "Session not found. Please sign in again."),
    ("err.revoked", "セッションは終了しています。もう一度ログインしてください。", "This session has ended. Please sign in again."),
    ("err.expired", "セッションの有効期限が切れました。", "Your session has expired."),
    ("err.expired_idle", "一定時間操作がなかったため、セッションが終了しました。", "Your session ended after a period of inactivity."),
    ("err.last_admin", "有効な運用管理者が一人もいなくなるため、この変更はできません。", "This would leave no active admin, so it is not allowed."),
    ("err.self_change", "自分自身のロールや利用状態は変更できません。別の運用管理者に依頼してください。", "You cannot change your own roles or status; ask another admin."),
    ("err.busy", "ただいま混み合っています。少し待ってからもう一度お試しください。", "The service is busy. Please try again in a moment."),
    ("err.no_roles", "ロールを一つ以上選んでください。", "Choose at least one role."),
    ("err.invalid_input", "入力内容に誤りがあります。", "Something in the input is not right."),
    ("err.not_custodian", "このデータセットの担当ではありません。", "You are not a custodian of this dataset."),
    ("err.no_such_application", "申出が見つかりません。", "No such application."),
    ("err.not_own_application", "ご自身の申出ではありません。", "This application is not yours."),
    ("err.application_incomplete", "申出に不足または誤りがあります。各項目を確認してください。", "The application has missing or invalid fields; each is listed."),
    ("err.illegal_step", "申出の現在の状態では、この操作はできません。", "This step is not possible in the application's current state."),
    ("err.not_your_step", "この手続きは別の担当者が行います。", "This step is someone else's to take."),
    ("err.not_pending", "このデータセットは確認待ちではありません。", "This dataset is not waiting for confirmation."),
    ("err.expedited_needs_amendment", "迅速審査は変更申出に限られます。", "Expedited review is for amendments only."),
    ("err.no_conditions", "条件付き承認には条件を記してください。", "An approval with conditions must state them."),
    ("err.quorum_not_met", "出席委員（利益相反等による退席後）が委員会の構成要件を満たしていません。", "The members present (after recusals) do not meet the committee's requirements."),
    ("err.not_committee_member", "委員会の名簿にない人が出席者に含まれています。", "Someone named as present is not on the committee."),
    ("err.not_on_roster", "委員会の名簿に登録されていません。", "You are not on the committee's roster."),
    ("err.not_before_committee", "この申出はまだ委員会に付議されていません。", "This application has not reached the committee."),
    ("err.not_approved_yet", "この申出はまだ委員会で承認されていません。", "This application has not been approved by the committee."),
    ("err.not_a_user", "利用者としてログインしてください。", "Sign in as a user."),
    ("err.not_yours_to_amend", "変更申出ができるのは申出者のみです。", "Only the applicant may amend this project."),
    ("err.no_such_attachment", "添付書類が見つかりません。", "No such attachment."),
    ("err.no_such_project", "研究が見つかりません。", "No such project."),
    ("err.not_on_project", "この研究の利用者ではありません。", "You are not named on this project."),
    ("err.not_yours_to_close", "この研究を終了できるのは申出者と事務局です。", "Only the applicant or the secretariat may close this project."),
    ("err.project_closed", "この研究は終了しています。", "This project is closed."),
    ("err.no_permit", "利用許可がありません。", "There is no permit for this."),
    ("err.not_named_on_permit", "利用許可に利用者として記載されていません。", "You are not named on the permit."),
    ("err.permit_not_started", "利用期間がまだ始まっていません。", "The period of use has not begun."),
    ("err.permit_expired", "利用期間が終了しています。", "The period of use has ended."),
    ("err.accreditation_revoked", "利用者認定が取り消されています。", "Your accreditation has been revoked."),
    ("err.accreditation_expired", "利用者認定の有効期限が切れています。", "Your accreditation has expired."),
    ("err.accreditation_incomplete", "利用者認定に不足があります。", "Your accreditation is incomplete."),
    ("err.not_accredited", "利用者認定を受けていません。", "You are not accredited."),
    ("err.platform_only", "この処理はプラットフォーム自身が行います。", "Only the platform does this."),
    ("err.session_error", "セッションを確認できませんでした。", "The session could not be checked."),
];

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static T: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    T.get_or_init(|| {
        MESSAGES
            .iter()
            .map(|(k, ja, en)| (*k, (*ja, *en)))
            .collect()
    })
}

/// The message for `key` in `lang`. An unknown key returns the key itself (and a test
/// makes sure no code path uses one).
pub fn t(lang: Lang, key: &str) -> &'static str {
    match table().get(key) {
        Some((ja, en)) => match lang {
            Lang::Ja => ja,
            Lang::En => en,
        },
        None => {
            tracing::warn!(key, "missing message");
            "?"
        }
    }
}

/// The message for an error code, falling back to a generic one.
pub fn error_message(lang: Lang, code: &str) -> String {
    let key = format!("err.{code}");
    if table().contains_key(key.as_str()) {
        t(lang, &key)
    } else {
        t(lang, "err.generic")
    }
    .to_owned()
}

/// A role's name.
pub fn role_name(lang: Lang, r: Role) -> &'static str {
    t(lang, &format!("role.{}.name", r.code()))
}

/// What a role does.
pub fn role_description(lang: Lang, r: Role) -> &'static str {
    t(lang, &format!("role.{}.desc", r.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_complete() {
        let mut seen = std::collections::HashSet::new();
        for (k, ja, en) in MESSAGES {
            assert!(seen.insert(k), "duplicate key {k}");
            assert!(
                !ja.is_empty() && !en.is_empty(),
                "{k} is empty in one language"
            );
        }
        for r in Role::ALL {
            assert_ne!(role_name(Lang::En, r), "?");
            assert_ne!(role_description(Lang::Ja, r), "?");
        }
    }

    /// Every literal key passed to `t(..)` / `.t(..)` in the source exists.
    #[test]
    fn every_key_used_in_the_source_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![dir.clone()];
        let mut missing = Vec::new();
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Literal keys passed to the translation functions, and the action table.
            for pat in [".t(\"", "t(ctx.lang, \"", "t(lang, \"", "\"home.action."] {
                for (i, _) in text.match_indices(pat) {
                    if !pat.starts_with('.') && !pat.starts_with('"') {
                        let before = text[..i].chars().next_back().unwrap_or(' ');
                        if before.is_alphanumeric() || before == '_' {
                            continue;
                        }
                    }
                    let start = if pat.starts_with('"') {
                        i + 1
                    } else {
                        i + pat.len()
                    };
                    let Some(end) = text[start..].find('"') else {
                        continue;
                    };
                    let key = &text[start..start + end];
                    if !key.contains(['{', ' '])
                        && !key.ends_with('.')
                        && !table().contains_key(key)
                    {
                        missing.push(format!("{}: {key}", p.display()));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys used but not defined: {missing:#?}"
        );
    }

    #[test]
    fn error_codes_have_messages() {
        for code in [
            "not_signed_in",
            "mfa_required",
            "permission_missing",
            "csrf",
            "bad_credentials",
            "locked",
            "throttled",
            "totp_replayed",
            "last_admin",
            "application_incomplete",
            "quorum_not_met",
            "not_own_application",
            "illegal_step",
        ] {
            assert_ne!(
                error_message(Lang::Ja, code),
                t(Lang::Ja, "err.generic"),
                "{code}"
            );
        }
        assert_eq!(
            error_message(Lang::En, "no-such-code"),
            t(Lang::En, "err.generic")
        );
    }
}
