//! A well-formed component that is not a Headwater connector: it exports a
//! world of its own.

wit_bindgen::generate!({
    inline: r#"
        package test:other;
        world calculator {
            export add: func(a: u32, b: u32) -> u32;
        }
    "#,
});

struct Calculator;

impl Guest for Calculator {
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

export!(Calculator);
