//! The confirmation page of the OAuth callback (issue 22): the business Nhanh consented, named by
//! its id and depots, and the Hub account it would join; one CSRF-protected button claims it.

use super::pages::layout;
use crate::services::connect::Confirmation;
use maud::html;

/// What the confirmation page needs besides the [`Confirmation`].
pub struct ConfirmPage<'a> {
    /// The exchanged business.
    pub confirmation: &'a Confirmation,
    /// The Hub account.
    pub account_id: &'a str,
    /// Where the form posts (the callback's own path).
    pub action: &'a str,
    /// The connect page, where **Hủy** leads.
    pub page_path: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// The page: what is about to be connected, a warning to confirm only one's own business, and
/// **Xác nhận kết nối**.
pub fn confirm_page(p: &ConfirmPage<'_>) -> String {
    let c = p.confirmation;
    let body = html! {
        section.card {
            h2 { "Doanh nghiệp Nhanh.vn sắp được kết nối" }
            p { "Nhanh.vn đã cấp quyền cho ứng dụng " code id="confirm-app-id" { (c.app_id.get()) } " với doanh nghiệp dưới đây. Kiểm tra trước khi kết nối:" }
            dl.facts {
                dt { "Doanh nghiệp Nhanh.vn (Business Id)" } dd { code id="confirm-business-id" { (c.business_id.get()) } }
                dt { "Kho / cửa hàng" }
                dd id="confirm-depots" {
                    @if c.depots.is_empty() { "Nhanh.vn không trả về danh sách kho." }
                    @for (i, d) in c.depots.iter().enumerate() {
                        @if i > 0 { ", " }
                        (d.name) " (" (d.id) ")"
                    }
                }
                dt { "Tài khoản Loyalty Hub (Account Id)" } dd { code id="confirm-account-id" { (p.account_id) } }
            }
            @if c.reconnecting {
                p.notice.ok { "Tài khoản đang kết nối với doanh nghiệp này; xác nhận để dùng quyền truy cập mới." }
            }
            p.notice.warn id="confirm-warning" {
                "Chỉ xác nhận nếu đây đúng là doanh nghiệp của bạn. Nếu bạn không nhận ra doanh nghiệp này, "
                "hoặc không vừa cấp quyền trên Nhanh.vn, hãy bấm Hủy: người khác có thể đang tìm cách gắn "
                "doanh nghiệp của họ vào tài khoản của bạn."
            }
            form method="post" action=(p.action) id="confirm-form" class="row" {
                input type="hidden" name="csrf_token" value=(p.csrf);
                button.primary type="submit" id="confirm" { "Xác nhận kết nối" }
                a.button href=(p.page_path) id="cancel" { "Hủy" }
            }
        }
    };
    layout("Xác nhận kết nối", None, None, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AppId, BusinessId, Depot};

    #[test]
    fn names_the_business_and_escapes_its_depots() {
        let confirmation = Confirmation {
            app_id: AppId::parse("7001").unwrap(),
            business_id: BusinessId::new(168_900).unwrap(),
            depots: vec![Depot { id: 31_010, name: "Kho <b>Hà Nội</b>".into() }],
            reconnecting: false,
        };
        let html = confirm_page(&ConfirmPage {
            confirmation: &confirmation,
            account_id: "385",
            action: "/nhanhvn/connect/callback/7001/385",
            page_path: "/nhanhvn/connect/385",
            csrf: "c",
        });
        assert!(html.contains("168900") && html.contains("Kho &lt;b&gt;Hà Nội&lt;/b&gt; (31010)"), "{html}");
        assert!(html.contains("lang=\"vi\"") && html.contains("id=\"confirm\""));
    }
}
