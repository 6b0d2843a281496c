"""The affiliate portal's onboarding, campaign catalog and enrollment pages (links, coupons,
QR codes, share texts, marketing assets, banners): parse -> call an api function -> render."""
