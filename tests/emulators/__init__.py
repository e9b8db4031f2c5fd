"""Local emulators of the Telegram Bot API and Gemini REST that end-to-end tests run against."""
